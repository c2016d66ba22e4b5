package charts_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	tcexec "github.com/testcontainers/testcontainers-go/exec"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/sandbox/helmx"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/postgres"
)

// TestIntegrationChartsAgainstPostgres runs our charts' shell against a real Postgres
// server. First the postgres chart's roles script (as the roles Job does, over TCP),
// with one app then three, twice each: the result must be exactly the layout
// sandbox/postgres makes (its Ensure functions find nothing to change) and vault_admin
// must log in. Then the demo app's readiness probe, as rendered: it passes with
// credentials made the way Vault makes them, and fails with stale ones.
func TestIntegrationChartsAgainstPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const vaultPW = "vault-admin-pw-it's" // a quote, to prove the literal is escaped
	admin := pg.Endpoint(pg.User, pg.Password, "postgres")

	for _, apps := range [][]string{{"webapp"}, {"webapp", "billing", "crm"}} {
		script := rolesScript(t, apps, vaultPW)
		for run := 1; run <= 2; run++ {
			code, out, err := pg.Container.Exec(ctx, []string{"sh", "-c", script}, tcexec.Multiplexed(), tcexec.WithEnv([]string{
				"PGHOST=127.0.0.1", "PGUSER=" + pg.User, "PGPASSWORD=" + pg.Password, "VAULT_ADMIN_PASSWORD=" + vaultPW,
			}))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(out)
			if code != 0 {
				t.Fatalf("apps %v, run %d: the roles script exited %d:\n%s", apps, run, code, b)
			}
		}
		c, err := postgres.Connect(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		if changed, err := postgres.EnsureVaultAdmin(ctx, c, vaultPW); err != nil || changed {
			t.Errorf("apps %v: EnsureVaultAdmin after the script: changed=%v err=%v", apps, changed, err)
		}
		for _, app := range apps {
			if changed, err := postgres.EnsureApp(ctx, c, app); err != nil || changed {
				t.Errorf("app %s: EnsureApp after the script: changed=%v err=%v", app, changed, err)
			}
		}
		_ = c.Close(ctx)
		va := admin
		va.User, va.Password = postgres.VaultAdmin, vaultPW
		vc, err := postgres.Connect(ctx, va)
		if err != nil {
			t.Fatalf("vault_admin cannot log in with the Secret's password: %v", err)
		}
		_ = vc.Close(ctx)
	}

	// A dynamic user as Vault's role webapp creates it, then the probe with its files.
	c, err := postgres.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, stmt := range postgres.CreationStatements("webapp") {
		stmt = strings.NewReplacer("{{name}}", "v-token-webapp-1", "{{password}}", "dyn-pw", "{{expiration}}", "infinity").Replace(stmt)
		if _, err := c.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	probe := readinessProbe(t, "webapp")
	ready := func(user, password string) (int, string) {
		t.Helper()
		setup := "mkdir -p /etc/labsbx/db /etc/labsbx/config && printf %s \"$U\" >/etc/labsbx/db/username && " +
			"printf %s \"$P\" >/etc/labsbx/db/password && printf %s \"{\\\"data\\\":{}}\" >/etc/labsbx/config/_raw"
		code, out, err := pg.Container.Exec(ctx, []string{"sh", "-c", setup}, tcexec.Multiplexed(),
			tcexec.WithEnv([]string{"U=" + user, "P=" + password}))
		if err != nil || code != 0 {
			b, _ := io.ReadAll(out)
			t.Fatalf("write the Secret files: %d %v %s", code, err, b)
		}
		code, out, err = pg.Container.Exec(ctx, probe, tcexec.Multiplexed(), tcexec.WithEnv([]string{
			"PGHOST=127.0.0.1", "PGPORT=5432", "PGDATABASE=postgres", "PGCONNECT_TIMEOUT=3", "APP_SCHEMA=webapp",
		}))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out)
		return code, string(b)
	}
	if code, out := ready("v-token-webapp-1", "dyn-pw"); code != 0 {
		t.Errorf("readiness with current credentials: exit %d\n%s", code, out)
	}
	if code, _ := ready("v-token-webapp-1", "revoked"); code == 0 {
		t.Error("readiness passed with a wrong password")
	}
	if _, err := c.Exec(ctx, `REVOKE "webapp_role" FROM "v-token-webapp-1"`); err != nil {
		t.Fatal(err)
	}
	if code, _ := ready("v-token-webapp-1", "dyn-pw"); code == 0 {
		t.Error("readiness passed for a user without webapp_role")
	}
}

// readinessProbe renders the demo app and returns its readiness probe's command.
func readinessProbe(t *testing.T, app string) []string {
	t.Helper()
	for _, doc := range splitDocs(renderDemoApp(t, app)) {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind == "Deployment" {
			return d.Spec.Template.Spec.Containers[0].ReadinessProbe.Exec.Command
		}
	}
	t.Fatal("no Deployment in the demo app")
	return nil
}

// rolesScript renders the chart and returns the script of its roles ConfigMap.
func rolesScript(t *testing.T, apps []string, vaultPW string) string {
	t.Helper()
	ch, err := charts.Load(charts.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := charts.Values(charts.PostgresValues{Apps: apps, Auth: charts.PostgresAuth{SuperuserPassword: "x", VaultAdminPassword: vaultPW}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := helmx.Render(ch, "postgres", "postgres", vals)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range splitDocs(m) {
		var cm struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatal(err)
		}
		if s, ok := cm.Data["10-labsbx-roles.sh"]; ok && cm.Kind == "ConfigMap" {
			return s
		}
	}
	t.Fatal("no roles script in the rendered chart")
	return ""
}
