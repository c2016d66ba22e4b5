package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/scenarios/catalogue"
	"github.com/arcodange/labsbx/scenarios/report"
)

// TestE2EVaultProfile runs the whole life of a vault-profile sandbox through the binary.
func TestE2EVaultProfile(t *testing.T) {
	runSandboxLifecycle(t, newLocalImagesCLI(t), "vault")
}

// TestE2EFullProfile is the same life on the full profile: a k3d cluster with the
// upstream Vault and VSO charts, two apps, every image from an offline bundle, on the
// private engine of `go tool task e2e:full` (see fullProfileEnv).
func TestE2EFullProfile(t *testing.T) {
	bundle, cfg := fullProfileEnv(t)
	c := newCLI(t)
	c.env["DOCKER_HOST"] = os.Getenv("DOCKER_HOST")
	runSandboxLifecycle(t, c, "full", "--config", cfg, "--bundle", bundle)
}

type upResult struct {
	Name      string   `json:"name"`
	VaultAddr string   `json:"vaultAddr"`
	Changes   []string `json:"changes"`
}

// runSandboxLifecycle: up, converge, use, drills, interrupted drill, down, leak check.
// Secrets must never reach any output other than `env` and `ci token`. upArgs are
// more arguments of every up (a config, a bundle).
func runSandboxLifecycle(t *testing.T, c *cli, profile string, upArgs ...string) {
	name := sandboxName("e2e")
	ctx := context.Background()
	t.Cleanup(func() { c.run("down", "--name", name) })

	upCmd := append([]string{"up", "--profile", profile, "--name", name}, upArgs...)
	var up upResult
	c.json(&up, upCmd...)
	if !strings.HasPrefix(up.VaultAddr, "http://127.0.0.1:") || len(up.Changes) == 0 {
		t.Fatalf("up: %+v", up)
	}
	var again upResult
	c.json(&again, upCmd...)
	if len(again.Changes) != 0 {
		t.Errorf("second up changed: %v", again.Changes)
	}
	var status struct {
		Sandboxes []struct{ Name, Phase, VaultAddr string } `json:"sandboxes"`
	}
	c.json(&status, "status")
	if len(status.Sandboxes) != 1 || status.Sandboxes[0].Phase != "ready" {
		t.Errorf("status: %+v", status)
	}

	// The secrets, read once through the explicit commands that print them.
	secrets := readSecrets(t, c, name)
	if secrets["VAULT_ADDR"] != up.VaultAddr {
		t.Errorf("env VAULT_ADDR %q, up said %q", secrets["VAULT_ADDR"], up.VaultAddr)
	}
	if profile == "full" {
		checkFullUp(t, secrets, fullApps) // VSO's two syncs on creation; see fullprofile_test.go
		checkOtherEngineRefused(t, c, name)
	}

	// CI logs in with the minted token and writes its app's config.
	tok := strings.TrimSpace(c.ok("ci", "token", "webapp", "--name", name).stdout)
	secrets["ci token"] = tok
	var login struct {
		Auth struct {
			ClientToken string   `json:"client_token"`
			Policies    []string `json:"policies"`
		} `json:"auth"`
	}
	vaultHTTP(t, up.VaultAddr, "", "POST", "/v1/auth/jwt/login", map[string]any{"role": "gitea_cicd_webapp", "jwt": tok}, &login)
	if login.Auth.ClientToken == "" {
		t.Fatal("CI login returned no token")
	}
	secrets["ci vault token"] = login.Auth.ClientToken
	vaultHTTP(t, up.VaultAddr, login.Auth.ClientToken, "POST", "/v1/kvv2/data/webapp/config", map[string]any{"data": map[string]any{"from": "ci"}}, nil)

	checkIdentities(t, c, name, up.VaultAddr, secrets)
	if profile == "full" {
		checkKubeconfigMerge(t, c, name)
	}

	// Seal and unseal by hand.
	if r := c.ok("vault", "seal", "--name", name); !strings.Contains(r.stdout, "Sealed:       true") {
		t.Errorf("vault seal:\n%s", r.stdout)
	}
	if r := c.ok("vault", "unseal", "--name", name); !strings.Contains(r.stdout, "Sealed:       false") {
		t.Errorf("vault unseal:\n%s", r.stdout)
	}

	// Every drill passes, with reports that validate.
	reports := filepath.Join(t.TempDir(), "all")
	var rep report.Report
	c.json(&rep, "drill", "run", "--all", "--name", name, "--report-dir", reports)
	checkReports(t, reports, len(catalogue.Drills().ApplicableTo(&state.State{Profile: profile})), 0) // vm-node-loss needs VMs
	for _, s := range rep.Scenarios {
		t.Logf("drill %-22s %s detect %5d ms  recover %5d ms  total %5d ms", s.Name, s.Result, s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs)
	}
	if profile == "full" {
		checkFullDrills(t, rep) // VSO's timing and side effects, as reported
		runFullDrillFiles(t, c, name)
	}

	// --no-recover leaves the fault: exit 4, a JUnit failure, and drill recover undoes it.
	failed := filepath.Join(t.TempDir(), "failed")
	r := c.run("drill", "run", "seal", "--no-recover", "--name", name, "--report-dir", failed)
	if r.code != 4 {
		t.Fatalf("drill run --no-recover: exit %d, want 4\n%s", r.code, r.stderr)
	}
	checkReports(t, failed, 1, 1)
	if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "seal: unsealed Vault") {
		t.Errorf("drill recover:\n%s", r.stdout)
	}

	// A drill killed during its inject phase is undone by drill recover.
	killDuringInject(t, c, name, "full-restart")
	c.ok("drill", "run", "seal", "lost-lease", "--name", name)

	if profile == "full" {
		// A new Vault image: up rolls Vault's pod and unseals the new one.
		// The image the sandbox runs, as its state records it (from the config).
		var st struct {
			Spec config.Spec `json:"spec"`
		}
		b, err := os.ReadFile(filepath.Join(c.home, name, "state.json"))
		if err != nil || json.Unmarshal(b, &st) != nil || st.Spec.Vault.Image == "" {
			t.Fatalf("the sandbox's Vault image from its state: %v", err)
		}
		checkVaultRolls(t, c, secrets, name, st.Spec.Vault.Image, upArgs)
		// A Vault upgrade as a change, rolled back, then run to the end.
		checkVaultUpgradesFull(t, c, name, secrets)
	}

	// Nothing secret reached an output other than env and ci token.
	out := c.transcript.String()
	for label, s := range secrets {
		if strings.HasPrefix(label, "VAULT_ADDR") || label == "PGHOST" || label == "PGPORT" || label == "PGUSER" || label == "PGDATABASE" || label == "KUBECONFIG" || len(s) < 8 {
			continue
		}
		// ci token prints its token on purpose; nothing else may print a secret.
		if n := strings.Count(out, s); n > expectedPrints(label) {
			t.Errorf("secret %s appears %d times in command output", label, n)
		}
		for _, dir := range []string{reports, failed} {
			scanDir(t, dir, label, s)
		}
	}
	_ = ctx

	// down removes everything; a second down is harmless.
	c.ok("down", "--name", name)
	if r := c.ok("down", "--name", name); !strings.Contains(r.stdout, "nothing to remove") {
		t.Errorf("second down:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(c.home, name)); !os.IsNotExist(err) {
		t.Errorf("state dir left after down: %v", err)
	}
	assertNoLabelled(t, name)
}

// expectedPrints: ci token prints the CI token once; env's output is not in the
// transcript.
func expectedPrints(label string) int {
	if label == "ci token" {
		return 1
	}
	return 0
}

func readSecrets(t *testing.T, c *cli, name string) map[string]string {
	t.Helper()
	var env map[string]string
	before := c.transcript.Len()
	r := c.run("env", "--name", name, "-o", "json")
	if r.code != 0 {
		t.Fatalf("env: %s", r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &env); err != nil {
		t.Fatal(err)
	}
	// Drop this output from the transcript: env prints secrets on purpose.
	c.transcript.Truncate(before)
	keys, err := os.ReadFile(filepath.Join(c.home, name, "secrets", "vault-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Keys []string `json:"unseal_keys_b64"`
	}
	if err := json.Unmarshal(keys, &k); err != nil || len(k.Keys) != 1 {
		t.Fatalf("keys file: %v", err)
	}
	env["unseal key"] = k.Keys[0]
	var pg map[string]string
	b, _ := os.ReadFile(filepath.Join(c.home, name, "secrets", "postgres.json"))
	_ = json.Unmarshal(b, &pg)
	for k, v := range pg {
		env["postgres "+k] = v
	}
	return env
}

func scanDir(t *testing.T, dir, label, secret string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("report %s contains the %s", p, label)
		}
		return nil
	})
}

// checkReports validates report.json against its schema and junit.xml's counts.
func checkReports(t *testing.T, dir string, tests, failures int) {
	t.Helper()
	j, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Validate(j); err != nil {
		t.Errorf("report.json: %v", err)
	}
	x, err := os.ReadFile(filepath.Join(dir, report.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suite    struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(x, &suites); err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	if suites.Tests != tests || suites.Failures != failures || len(suites.Suite.Cases) != tests {
		t.Errorf("junit.xml: %d tests, %d failures, %d cases; want %d and %d", suites.Tests, suites.Failures, len(suites.Suite.Cases), tests, failures)
	}
	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	if err != nil || !strings.Contains(string(md), "%%{init: {'theme':'base'}}%%") {
		t.Errorf("report.md: %v", err)
	}
}

// killDuringInject starts full-restart, kills labsbx with SIGKILL as soon as the fault is
// recorded (its inject then stops and starts containers), and checks that drill recover
// brings the steady state back.
func killDuringInject(t *testing.T, c *cli, name, scenario string) {
	t.Helper()
	cmd := c.command("drill", "run", scenario, "--name", name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(c.home, name, "state.json")
	// The steady state comes first: on the full profile it waits for every app to be
	// healthy, which after a lost lease takes VSO's renewal window.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b, _ := os.ReadFile(statePath)
		var st struct {
			Faults []struct{ Scenario string } `json:"faults"`
		}
		if json.Unmarshal(b, &st) == nil && len(st.Faults) > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the drill never recorded its fault")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // into the inject: containers are stopping
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	r := c.ok("drill", "recover", "--name", name)
	if !strings.Contains(r.stdout, scenario+":") {
		t.Errorf("drill recover after a kill:\n%s", r.stdout)
	}
	if r := c.ok("vault", "status", "--name", name); !strings.Contains(r.stdout, "Sealed:       false") {
		t.Errorf("after recover:\n%s", r.stdout)
	}
	if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "no pending drill fault") {
		t.Errorf("second recover:\n%s", r.stdout)
	}
}

func vaultHTTP(t *testing.T, addr, token, method, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, addr+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// checkIdentities is an app's two identities through labsbx: ci login, ci exec, env
// --as and exec --as. Each command sees the sandbox and nothing of the caller's shell,
// and each token holds exactly its policy. Their secrets go into secrets, so that the
// leak check looks for them everywhere else.
func checkIdentities(t *testing.T, c *cli, name, vaultAddr string, secrets map[string]string) {
	t.Helper()
	// The caller's shell points at "production": none of it may reach the command.
	c.env["VAULT_ADDR"], c.env["VAULT_TOKEN"], c.env["PGPASSWORD"] = "https://vault.prod.invalid:8200", "hvs.production-stand-in", "production-password"
	defer func() { delete(c.env, "VAULT_ADDR"); delete(c.env, "VAULT_TOKEN"); delete(c.env, "PGPASSWORD") }()
	quiet := func(args ...string) result { // commands that print a secret on purpose
		before := c.transcript.Len()
		r := c.run(args...)
		c.transcript.Truncate(before)
		return r
	}
	policies := func(token string) []string {
		var self struct {
			Data struct {
				Policies []string `json:"policies"`
			} `json:"data"`
		}
		vaultHTTP(t, vaultAddr, token, "GET", "/v1/auth/token/lookup-self", nil, &self)
		return self.Data.Policies
	}
	envOf := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				m[k] = v
			}
		}
		return m
	}

	var login struct {
		Token    string   `json:"token"`
		Policies []string `json:"policies"`
		Method   string   `json:"method"`
	}
	r := quiet("ci", "login", "webapp", "--name", name, "-o", "json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &login) != nil {
		t.Fatalf("ci login: exit %d\n%s", r.code, r.stderr)
	}
	secrets["ci login token"] = login.Token
	if got := policies(login.Token); !slices.Equal(got, []string{"default", "webapp-ops"}) || login.Method != "jwt/login role gitea_cicd_webapp" {
		t.Errorf("ci login: policies %v, method %q", got, login.Method)
	}
	if r := quiet("ci", "login", "webapp", "--name", name, "--env"); r.code != 0 || !strings.Contains(r.stdout, "export VAULT_ADDR=\""+vaultAddr+"\"\nexport VAULT_TOKEN=\"hvs.") {
		t.Errorf("ci login --env: exit %d\n%s", r.code, r.stdout)
	}

	r = quiet("ci", "exec", "webapp", "--name", name, "--ref", "refs/heads/release", "--", "env")
	ci := envOf(r.stdout)
	if r.code != 0 || ci["VAULT_ADDR"] != vaultAddr || ci["GITHUB_REPOSITORY"] != "arcodange/webapp" || ci["GITHUB_REF_NAME"] != "release" || ci["GITEA_ACTIONS"] != "true" {
		t.Errorf("ci exec env: exit %d, %v\n%s", r.code, ci, r.stderr)
	}
	if _, leaked := ci["PGPASSWORD"]; leaked || ci["VAULT_TOKEN"] == "hvs.production-stand-in" || ci["VAULT_TOKEN"] == "" {
		t.Errorf("ci exec: the caller's shell reached the command: %v", ci)
	}
	secrets["ci exec token"] = ci["VAULT_TOKEN"]
	if got := policies(ci["VAULT_TOKEN"]); !slices.Equal(got, []string{"default", "webapp-ops"}) {
		t.Errorf("ci exec token policies %v", got)
	}
	// The job's token provisions its app's config, as tofu apply would, and no more.
	vaultHTTP(t, vaultAddr, ci["VAULT_TOKEN"], "POST", "/v1/kvv2/data/webapp/config", map[string]any{"data": map[string]any{"from": "ci exec"}}, nil)
	if r := c.run("ci", "exec", "webapp", "--name", name, "--", "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("ci exec: exit %d, want the command's 5", r.code)
	}
	if r := c.run("ci", "exec", "nosuchapp", "--name", name, "--", "true"); r.code != 2 || !strings.Contains(r.stderr, "not in sandbox") {
		t.Errorf("ci exec of an unknown app: exit %d\n%s", r.code, r.stderr)
	}

	var app map[string]string
	r = quiet("env", "--as", "webapp", "--name", name, "-o", "json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &app) != nil {
		t.Fatalf("env --as webapp: exit %d\n%s", r.code, r.stderr)
	}
	secrets["app token"], secrets["app password"] = app["VAULT_TOKEN"], app["PGPASSWORD"]
	if got := policies(app["VAULT_TOKEN"]); !slices.Equal(got, []string{"default", "webapp"}) || !strings.HasPrefix(app["PGUSER"], "v-") {
		t.Errorf("env --as webapp: policies %v, PGUSER %q", got, app["PGUSER"])
	}
	r = quiet("exec", "--as", "webapp", "--name", name, "--", "env")
	run := envOf(r.stdout)
	if r.code != 0 || !strings.HasPrefix(run["PGUSER"], "v-") || run["PGUSER"] == app["PGUSER"] || run["VAULT_TOKEN"] == "hvs.production-stand-in" {
		t.Errorf("exec --as webapp env: exit %d, PGUSER %q (env --as gave %q)\n%s", r.code, run["PGUSER"], app["PGUSER"], r.stderr)
	}
	secrets["exec token"], secrets["exec password"] = run["VAULT_TOKEN"], run["PGPASSWORD"]
	if got := policies(run["VAULT_TOKEN"]); !slices.Equal(got, []string{"default", "webapp"}) {
		t.Errorf("exec --as token policies %v", got)
	}
	if r := c.run("exec", "--as", "webapp", "--name", name, "--", "sh", "-c", "exit 6"); r.code != 6 {
		t.Errorf("exec --as: exit %d, want the command's 6", r.code)
	}
}
