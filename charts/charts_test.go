package charts_test

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/internal/goldenfile"
	"github.com/arcodange/labsbx/sandbox/helmx"
)

// Fixed passwords: golden files must not depend on randomness.
func testPostgresValues(apps ...string) charts.PostgresValues {
	return charts.PostgresValues{
		Image: "postgres:15-bookworm",
		Apps:  apps,
		Auth:  charts.PostgresAuth{SuperuserPassword: "superuser-pw", VaultAdminPassword: "vault-admin-pw"},
	}
}

func testDemoAppValues(app string) charts.DemoAppValues {
	return charts.DemoAppValues{App: app, Image: "postgres:15-bookworm", Postgres: charts.DemoAppPostgres{Host: "postgres.postgres.svc"}}
}

func TestRenderPostgres(t *testing.T) {
	ch, err := charts.Load(charts.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden string
		apps   []string
	}{
		{"postgres-1app.yaml", []string{"webapp"}},
		{"postgres-3apps.yaml", []string{"webapp", "billing", "crm"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			vals, err := charts.Values(testPostgresValues(tc.apps...))
			if err != nil {
				t.Fatal(err)
			}
			m, err := helmx.Render(ch, "postgres", "postgres", vals)
			if err != nil {
				t.Fatal(err)
			}
			checkManifest(t, m)
			for _, app := range tc.apps {
				for _, want := range []string{"'" + app + "_role'", "-- app " + app + "\n"} {
					if !strings.Contains(m, want) {
						t.Errorf("the roles script lacks %q", want)
					}
				}
			}
			goldenfile.Assert(t, tc.golden, []byte(m))
		})
	}
}

// renderDemoApp renders the demo-app release of app, in namespace app.
func renderDemoApp(t *testing.T, app string) string {
	t.Helper()
	ch, err := charts.Load(charts.DemoApp)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := charts.Values(testDemoAppValues(app))
	if err != nil {
		t.Fatal(err)
	}
	m, err := helmx.Render(ch, app, app, vals)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRenderDemoApp(t *testing.T) {
	for _, tc := range []struct {
		golden string
		apps   []string
	}{
		{"demo-app-1app.yaml", []string{"webapp"}},
		{"demo-app-3apps.yaml", []string{"webapp", "billing", "crm"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			// One release per app, in namespace <app>, concatenated in app order.
			var all strings.Builder
			for _, app := range tc.apps {
				m := renderDemoApp(t, app)
				checkManifest(t, m)
				kinds := kindsOf(t, m)
				for _, k := range []string{"ServiceAccount/" + app, "VaultAuth/" + app, "VaultDynamicSecret/" + app + "-db",
					"VaultStaticSecret/" + app + "-config", "Deployment/" + app} {
					if !kinds[k] {
						t.Errorf("release %s lacks %s (has %v)", app, k, kinds)
					}
				}
				fmt.Fprintf(&all, "# release %s, namespace %s\n%s", app, app, m)
			}
			goldenfile.Assert(t, tc.golden, []byte(all.String()))
		})
	}
}

// TestDemoAppDoesNotAskForRevocation: VSO revokes a VaultDynamicSecret's lease on
// deletion with the app's own Vault token, whose runtime policy (production's: read
// config and creds) grants no sys/leases/revoke; sandbox/vault's
// TestIntegrationBootstrapLayout shows that token cannot revoke. So the demo app does
// not ask for revocation, which would only fail with a 403.
func TestDemoAppDoesNotAskForRevocation(t *testing.T) {
	for _, doc := range splitDocs(renderDemoApp(t, "webapp")) {
		var obj struct {
			Kind string         `json:"kind"`
			Spec map[string]any `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind != "VaultDynamicSecret" {
			continue
		}
		if revoke, ok := obj.Spec["revoke"].(bool); !ok || revoke {
			t.Errorf("VaultDynamicSecret spec.revoke = %v (set: %v), want false", obj.Spec["revoke"], ok)
		}
		return
	}
	t.Fatal("no VaultDynamicSecret rendered")
}

// TestRenderRefusals: the charts refuse values that would break the Vault layout.
func TestRenderRefusals(t *testing.T) {
	demo, err := charts.Load(charts.DemoApp)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := charts.Load(charts.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		ch        *chart.Chart
		namespace string
		vals      any
		want      string
	}{
		{"demo-app without app", demo, "webapp", charts.DemoAppValues{}, "set the app slug"},
		{"demo-app in another namespace", demo, "default", testDemoAppValues("webapp"), `in namespace "webapp"`},
		{"demo-app bad slug", demo, "Web_App", testDemoAppValues("Web_App"), "not a valid app slug"},
		{"postgres bad slug", pg, "postgres", testPostgresValues("x'; DROP ROLE postgres; --"), "not a valid app slug"},
		{"postgres no apps", pg, "postgres", charts.PostgresValues{Apps: []string{}, Auth: charts.PostgresAuth{SuperuserPassword: "a", VaultAdminPassword: "b"}}, "at least one app"},
		{"postgres no password", pg, "postgres", charts.PostgresValues{Apps: []string{"webapp"}}, "superuserPassword"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := charts.Values(tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := helmx.Render(tc.ch, "r", tc.namespace, vals)
			if rerr == nil || !strings.Contains(rerr.Error(), tc.want) {
				t.Errorf("Render = %v, want an error containing %q", rerr, tc.want)
			}
		})
	}
}

// TestPostgresExistingSecret: with auth.existingSecret the chart makes no Secret and
// every password reference points at the given one.
func TestPostgresExistingSecret(t *testing.T) {
	ch, err := charts.Load(charts.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := charts.Values(charts.PostgresValues{Apps: []string{"webapp"}, Auth: charts.PostgresAuth{ExistingSecret: "labsbx-postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := helmx.Render(ch, "postgres", "postgres", vals)
	if err != nil {
		t.Fatal(err)
	}
	if kindsOf(t, m)["Secret/postgres"] {
		t.Error("the chart made a Secret although auth.existingSecret is set")
	}
	if n := strings.Count(m, "name: labsbx-postgres"); n != 4 {
		t.Errorf("%d references to the existing Secret, want 4 (2 passwords x StatefulSet, Job)", n)
	}
}

func TestPinnedVersions(t *testing.T) {
	for _, ref := range charts.Pinned() {
		if !ref.Embedded {
			continue
		}
		ch, err := charts.Load(ref.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Metadata.Version != ref.Version {
			t.Errorf("charts/%s/Chart.yaml says version %s, versions.go pins %s", ref.Name, ch.Metadata.Version, ref.Version)
		}
	}
	if _, err := charts.Load("vault"); err == nil {
		t.Error("Load(vault) succeeded: only our charts are embedded")
	}
}

// checkManifest parses every document and wants a kind, a name and a namespace.
func checkManifest(t *testing.T, m string) {
	t.Helper()
	for _, doc := range splitDocs(m) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("document does not parse: %v\n%s", err, doc)
		}
		if obj.Kind == "" || obj.Metadata.Name == "" || obj.Metadata.Namespace == "" {
			t.Errorf("document without kind, name or namespace:\n%s", doc)
		}
	}
}

func kindsOf(t *testing.T, m string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, doc := range splitDocs(m) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		out[obj.Kind+"/"+obj.Metadata.Name] = true
	}
	return out
}

func splitDocs(m string) []string {
	var out []string
	for _, d := range strings.Split(m, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(d, "---")) != "" {
			out = append(out, d)
		}
	}
	return out
}
