package helmx

import (
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/e2e/kubetest"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// newSandboxCluster is a kubetest cluster whose marker is written, after checking that
// the pending connection gives Helm nothing.
func newSandboxCluster(t *testing.T, name string) *kubetest.Cluster {
	t.Helper()
	c := kubetest.New(t, name)
	if _, err := New(c.Kube, nil); !errors.Is(err, guard.ErrRefused) {
		t.Fatalf("New before the marker = %v, want a refusal", err)
	}
	c.WriteMarker(t)
	return c
}

func postgresRelease(t *testing.T, apps ...string) Release {
	t.Helper()
	ch, err := charts.Load(charts.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := charts.Values(charts.PostgresValues{Apps: apps, Service: charts.PostgresService{NodePort: 30432},
		Auth: charts.PostgresAuth{SuperuserPassword: "superuser-pw", VaultAdminPassword: "vault-admin-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	return Release{Name: "postgres", Namespace: "postgres", Chart: ch, Values: vals}
}

func demoAppRelease(t *testing.T, app string) Release {
	t.Helper()
	ch, err := charts.Load(charts.DemoApp)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := charts.Values(charts.DemoAppValues{App: app, Postgres: charts.DemoAppPostgres{Host: "postgres.postgres.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	return Release{Name: app, Namespace: app, Chart: ch, Values: vals}
}

// TestIntegrationHelmCharts installs our charts on a real kube-apiserver through the
// same Helm code path up uses (helmx over a guard-verified connection): Postgres and
// the demo app for one app, then an upgrade to three apps, then a converge run that
// changes nothing, then a repair of a deleted object. The API server runs no
// controllers, so nothing starts: this checks what Helm and the API accept and store.
func TestIntegrationHelmCharts(t *testing.T) {
	c := newSandboxCluster(t, "helm")
	ctx := t.Context()
	kubetest.InstallScaffoldCRDs(t, c.Kube)
	hc, err := New(c.Kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(r Release, want Action) *Result {
		t.Helper()
		res, err := hc.Apply(ctx, r)
		if err != nil {
			t.Fatalf("Apply %s/%s: %v", r.Namespace, r.Name, err)
		}
		if res.Action != want {
			t.Errorf("Apply %s/%s = %s (%s), want %s", r.Namespace, r.Name, res.Action, res.Reason, want)
		}
		return res
	}

	// One app.
	apply(postgresRelease(t, "webapp"), Installed)
	apply(demoAppRelease(t, "webapp"), Installed)
	firstJob := rolesJob(t, c)
	apply(postgresRelease(t, "webapp"), Unchanged)
	apply(demoAppRelease(t, "webapp"), Unchanged)

	// Three apps: Postgres upgrades (a new roles Job), two demo apps install.
	three := []string{"webapp", "billing", "crm"}
	if res := apply(postgresRelease(t, three...), Upgraded); res.Revision != 2 {
		t.Errorf("postgres revision %d after the upgrade, want 2", res.Revision)
	}
	for _, app := range three[1:] {
		apply(demoAppRelease(t, app), Installed)
	}
	if job := rolesJob(t, c); job == firstJob {
		t.Errorf("the roles Job kept its name %s although the app list changed", job)
	}

	// Converge: nothing changes, no new revision.
	if res := apply(postgresRelease(t, three...), Unchanged); res.Revision != 2 {
		t.Errorf("postgres revision %d after a converge run, want 2", res.Revision)
	}
	for _, app := range three {
		if res := apply(demoAppRelease(t, app), Unchanged); res.Revision != 1 {
			t.Errorf("%s revision %d after a converge run, want 1", app, res.Revision)
		}
	}

	// What the cluster holds, seen without the guard.
	for _, app := range three {
		if _, err := c.Admin.CoreV1().ServiceAccounts(app).Get(ctx, app, metav1.GetOptions{}); err != nil {
			t.Errorf("ServiceAccount %s/%s: %v", app, app, err)
		}
		d, err := c.Admin.AppsV1().Deployments(app).Get(ctx, app, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Deployment %s/%s: %v", app, app, err)
		}
		if sa := d.Spec.Template.Spec.ServiceAccountName; sa != app {
			t.Errorf("Deployment %s runs as ServiceAccount %q", app, sa)
		}
		for _, res := range []string{"vaultauths", "vaultdynamicsecrets", "vaultstaticsecrets"} {
			var list struct {
				Items []struct {
					Metadata struct{ Name string } `json:"metadata"`
					Spec     map[string]any        `json:"spec"`
				} `json:"items"`
			}
			raw, err := c.Admin.RESTClient().Get().AbsPath("/apis/secrets.hashicorp.com/v1beta1/namespaces/" + app + "/" + res).DoRaw(ctx)
			if err == nil {
				err = yaml.Unmarshal(raw, &list)
			}
			if err != nil || len(list.Items) != 1 {
				t.Errorf("%s in %s: %d items, %v", res, app, len(list.Items), err)
			}
		}
	}
	cm, err := c.Admin.CoreV1().ConfigMaps("postgres").Get(ctx, "postgres-roles", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range three {
		if !strings.Contains(cm.Data["10-labsbx-roles.sh"], "'"+app+"_role'") {
			t.Errorf("the roles script lacks %s_role", app)
		}
	}
	svc, err := c.Admin.CoreV1().Services("postgres").Get(ctx, "postgres", metav1.GetOptions{})
	if err != nil || svc.Spec.Type != "NodePort" || svc.Spec.Ports[0].NodePort != 30432 {
		t.Errorf("postgres Service = %+v, %v; want NodePort 30432", svc.Spec, err)
	}

	// Repair: an object deleted behind labsbx's back comes back, as a new revision.
	if err := c.Admin.CoreV1().ServiceAccounts("billing").Delete(ctx, "billing", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res := apply(demoAppRelease(t, "billing"), Upgraded)
	if !strings.Contains(res.Reason, "missing") {
		t.Errorf("repair reason %q", res.Reason)
	}
	if _, err := c.Admin.CoreV1().ServiceAccounts("billing").Get(ctx, "billing", metav1.GetOptions{}); err != nil {
		t.Errorf("ServiceAccount billing/billing after the repair: %v", err)
	}
	apply(demoAppRelease(t, "billing"), Unchanged)

	// A demo app outside its own namespace is refused by the chart, before anything.
	bad := demoAppRelease(t, "webapp")
	bad.Name, bad.Namespace = "webapp-elsewhere", "default"
	if _, err := hc.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), `in namespace "webapp"`) {
		t.Errorf("Apply of a demo app outside its namespace = %v", err)
	}
	if _, err := c.Admin.CoreV1().ServiceAccounts("default").Get(ctx, "webapp", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused release left a ServiceAccount: %v", err)
	}
}

// rolesJob returns the name of the postgres roles Job, and wants exactly one.
func rolesJob(t *testing.T, c *kubetest.Cluster) string {
	t.Helper()
	jobs, err := c.Admin.BatchV1().Jobs("postgres").List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=roles"})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		var names []string
		for _, j := range jobs.Items {
			names = append(names, j.Name)
		}
		t.Fatalf("roles Jobs %v, want exactly one", names)
	}
	return jobs.Items[0].Name
}

// TestIntegrationMarkerAgreesWithGuard: after Helm has installed releases, the marker
// ConfigMap that WriteMarker created still carries the sandbox UUID, the guard
// connects with the recorded UUID and refuses another, and a Helm client built from a
// refused or pending connection cannot exist.
func TestIntegrationMarkerAgreesWithGuard(t *testing.T) {
	c := newSandboxCluster(t, "marker")
	ctx := t.Context()
	hc, err := New(c.Kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Apply(ctx, postgresRelease(t, "webapp")); err != nil {
		t.Fatal(err)
	}
	cm, err := c.Admin.CoreV1().ConfigMaps(guard.MarkerNamespace).Get(ctx, guard.MarkerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := guard.MarkerConfigMap(kubetest.UUID)
	if cm.Data[guard.MarkerUUIDKey] != kubetest.UUID || cm.Labels[guard.LabelSandbox] != kubetest.UUID || len(cm.Data) != len(want.Data) {
		t.Errorf("marker = data %v labels %v, want the UUID %s", cm.Data, cm.Labels, kubetest.UUID)
	}
	connect := func(rec guard.Record) (*guard.Kube, error) {
		a, _, err := guard.ApproveKube(rec, []string{c.Kubeconfig}, rec.Kube.Context)
		if err != nil {
			return nil, err
		}
		return a.Connect(ctx, rec)
	}
	k, err := connect(c.Rec)
	if err != nil || !k.Verified() {
		t.Fatalf("Connect with the recorded UUID = %v", err)
	}
	hc2, err := New(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := hc2.Apply(ctx, postgresRelease(t, "webapp")); err != nil || res.Changed() {
		t.Errorf("Apply through a fresh connection = %+v, %v; want unchanged", res, err)
	}
	other := c.Rec
	other.UUID = "5b7a1d9e-0000-4000-8000-000000000000"
	if _, err := connect(other); !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "another sandbox") {
		t.Errorf("Connect with another UUID = %v, want a refusal", err)
	}
	if _, err := New(&guard.Kube{}, nil); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("New on a zero connection = %v, want a refusal", err)
	}
}

// TestIntegrationPendingRelease: a release that an interrupted run left pending (Helm
// refuses to upgrade those) is taken over by the next Apply, which upgrades it once,
// after which it converges.
func TestIntegrationPendingRelease(t *testing.T) {
	c := newSandboxCluster(t, "pending")
	ctx := t.Context()
	hc, err := New(c.Kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := postgresRelease(t, "webapp")
	if _, err := hc.Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	cfg, err := hc.configuration(r.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	last, err := cfg.Releases.Last(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	last.Info.Status = release.StatusPendingUpgrade
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	res, err := hc.Apply(ctx, r)
	if err != nil {
		t.Fatalf("Apply over a pending release: %v", err)
	}
	if res.Action != Upgraded || res.Revision != 2 {
		t.Errorf("Apply over a pending release = %+v, want upgraded to revision 2", res)
	}
	if res, err := hc.Apply(ctx, r); err != nil || res.Action != Unchanged {
		t.Errorf("Apply after the take-over = %+v, %v; want unchanged", res, err)
	}
}
