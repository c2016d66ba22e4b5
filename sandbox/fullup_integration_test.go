package sandbox_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/sandboxtest"
)

// apiServerCluster stands in for k3d at the cluster.Provider boundary: its "cluster" is
// a real kube-apiserver (no nodes, so no pod ever runs).
type apiServerCluster struct {
	mu       sync.Mutex
	s        *testenv.KubeServer
	name     string
	exists   bool
	created  []cluster.Options
	imported []string
	deleted  bool
	starts   int
}

func (c *apiServerCluster) Exists(context.Context) (bool, error) { return c.exists, nil }
func (c *apiServerCluster) Create(_ context.Context, o cluster.Options) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := o.Validate(); err != nil {
		return err
	}
	c.created, c.exists = append(c.created, o), true
	return nil
}
func (c *apiServerCluster) Kubeconfig(context.Context) (*clientcmdapi.Config, error) {
	return c.s.Kubeconfig(guard.ContextName(c.name)), nil
}
func (c *apiServerCluster) ImportImages(_ context.Context, refs []string) error {
	c.imported = append(c.imported, refs...)
	return nil
}
func (c *apiServerCluster) Delete(context.Context) (bool, error) {
	was := c.exists
	c.exists, c.deleted = false, true
	return was, nil
}
func (c *apiServerCluster) ServerNode() string         { return "k3d-labsbx-" + c.name + "-server-0" }
func (c *apiServerCluster) Stop(context.Context) error { return errors.New("not in this test") }

// Start is what up calls on a cluster that exists: k3d starts stopped nodes only.
func (c *apiServerCluster) Start(context.Context) error {
	c.starts++
	return nil
}

// fullStepper runs the full profile's steps with two cut: the image steps (the
// upstream k3s, k3d and VSO images cannot be had here) are skipped, and the run stops
// where pods would have to start.
type fullStepper struct {
	cancel  context.CancelFunc
	ran     []string
	stopped bool
}

func (f *fullStepper) Step(msg string, fn func() error) error {
	switch {
	case strings.HasPrefix(msg, "Ensuring images"), strings.HasPrefix(msg, "Importing the"):
		return nil
	case strings.HasPrefix(msg, "Waiting for Postgres"):
		f.stopped = true
		f.cancel()
		return context.Canceled
	}
	f.ran = append(f.ran, msg)
	return fn()
}
func (*fullStepper) Infof(string, ...any) {}

// TestIntegrationFullProfileUntilPods runs the full profile's bring-up against a real
// kube-apiserver up to the first step that needs running pods: ports recorded before
// the cluster, kubeconfig and guard record, marker, the Postgres Secret and the
// Postgres release. A second run changes nothing; down deletes the cluster.
func TestIntegrationFullProfileUntilPods(t *testing.T) {
	const name = "itfull"
	conf, cfg := sandboxtest.New(t, name, "webapp")
	cfg.Spec.Profile = config.ProfileFull
	kube := testenv.KubeAPIServer(t)
	prov := &apiServerCluster{s: kube, name: name}
	conf.Clusters = func(_ guard.DockerApproval, sb, _ string, _ cluster.Helpers) (cluster.Provider, error) {
		if sb != name {
			return nil, errors.New("provider asked for another sandbox: " + sb)
		}
		return prov, nil
	}
	run := func() (*sandbox.UpResult, *fullStepper) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stepper := &fullStepper{cancel: cancel}
		conf.Progress = stepper
		res, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
		if !errors.Is(err, context.Canceled) || !stepper.stopped {
			t.Fatalf("up: %v (stopped at the pods: %v)", err, stepper.stopped)
		}
		return res, stepper
	}

	res, stepper := run()
	for _, want := range []string{"created k3d cluster labsbx-itfull", "wrote kubeconfig", "wrote marker kube-system/labsbx-sandbox",
		"created Secret postgres/labsbx-postgres-auth", "release postgres/postgres installed"} {
		if !containsPrefix(res.Changes, want) {
			t.Errorf("first up: no change %q in %v", want, res.Changes)
		}
	}
	st, err := conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(prov.created) != 1 {
		t.Fatalf("cluster created %d times", len(prov.created))
	}
	o := prov.created[0]
	if o.UUID != st.UUID || o.APIPort != st.Cluster.APIPort || o.PostgresPort != st.Docker.PostgresPort ||
		!strings.HasSuffix(st.Vault.Addr, ":"+strconv.Itoa(o.VaultPort)) || o.Image != cfg.Spec.Cluster.K3sImage {
		t.Errorf("cluster options %+v do not match the state %+v %+v %+v", o, st.Cluster, st.Docker, st.Vault)
	}
	if st.Kube == nil || !st.Kube.MarkerWritten || st.Kube.Server != kube.Host || st.Cluster.ServerNode != "k3d-labsbx-itfull-server-0" {
		t.Errorf("state after the cluster steps: kube %+v cluster %+v", st.Kube, st.Cluster)
	}
	admin, err := kubernetes.NewForConfig(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm, err := admin.CoreV1().ConfigMaps(guard.MarkerNamespace).Get(ctx, guard.MarkerName, metav1.GetOptions{})
	if err != nil || cm.Data[guard.MarkerUUIDKey] != st.UUID {
		t.Fatalf("marker: %v %v", cm, err)
	}
	pw, err := st.PostgresSecrets()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := admin.CoreV1().Secrets(config.NamespacePostgres).Get(ctx, bringup.PostgresAuthSecret, metav1.GetOptions{})
	if err != nil || string(sec.Data["postgres-password"]) != pw.SuperuserPassword || string(sec.Data["vault-admin-password"]) != pw.VaultAdminPassword {
		t.Fatalf("postgres auth Secret: %v", err)
	}
	if _, err := admin.AppsV1().StatefulSets(config.NamespacePostgres).Get(ctx, "postgres", metav1.GetOptions{}); err != nil {
		t.Fatalf("postgres StatefulSet: %v", err)
	}
	for _, s := range stepper.ran {
		if strings.Contains(s, "vault") && !strings.HasPrefix(s, "Checking") {
			t.Errorf("step %q ran before Postgres was ready", s)
		}
	}

	// A second up over the same cluster changes nothing on the way.
	again, _ := run()
	if len(again.Changes) != 0 || len(prov.created) != 1 || prov.starts != 1 {
		t.Errorf("second up: changes %v, cluster created %d times, started %d times (want 0 changes, 1, 1)", again.Changes, len(prov.created), prov.starts)
	}

	// The cluster vanishes (k3d cluster delete) after Vault was initialised: up stops
	// and says to start over, rather than pair the old key with a new Vault.
	st, err = conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	st.Vault.ClusterID = "4b9c2f40-0000-0000-0000-000000000000"
	if err := conf.Store.Save(st, st.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	prov.exists = false
	conf.Progress = &fullStepper{cancel: func() {}}
	if _, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx); err == nil || !strings.Contains(err.Error(), "is gone") || len(prov.created) != 1 {
		t.Fatalf("up over a vanished cluster: %v (created %d times)", err, len(prov.created))
	}
	prov.exists = true

	down, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: name}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !prov.deleted || down.Cluster != "labsbx-itfull" || !down.StateRemoved {
		t.Errorf("down: %+v (cluster deleted: %v)", down, prov.deleted)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
