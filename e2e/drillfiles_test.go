package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/scenarios/report"
)

func example(name string) string { return filepath.Join("..", "examples", "drills", name) }

// TestE2EDrillFiles runs the lab's runbooks as drill files on a vault-profile sandbox:
// the examples as a shuffled game day, a hostile file refused before anything runs, a
// failing recovery rolled back, and an interrupted file drill rolled back by drill
// recover.
func TestE2EDrillFiles(t *testing.T) {
	for _, tool := range []string{"curl", "jq", "psql"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Require(t, tool+" (the example runbooks use it)", "apt-get install curl jq postgresql-client")
		}
	}
	c := newLocalImagesCLI(t)
	name := sandboxName("e2efile")
	t.Cleanup(func() { c.run("down", "--name", name) })
	c.ok("up", "--profile", "vault", "--name", name)
	secrets := readSecrets(t, c, name)
	sealed := func() bool {
		t.Helper()
		return strings.Contains(c.run("vault", "status", "--name", name).stdout, "Sealed:       true")
	}

	c.ok("drill", "validate", "-f", filepath.Join("..", "examples", "drills"))

	dir := t.TempDir()
	write := func(file, text string) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The three vault-profile examples, twice each, shuffled.
	reports := filepath.Join(t.TempDir(), "gameday")
	var rep report.Report
	c.json(&rep, "drill", "run", "-f", example("unseal-runbook.yaml"), "-f", example("lost-lease-reread.yaml"),
		"-f", example("broken-grant-sql.yaml"), "--repeat", "2", "--seed", "7", "--name", name, "--report-dir", reports)
	checkReports(t, reports, 6, 0)
	if rep.Repeat != 2 || !rep.Shuffle || rep.Seed != 7 || len(rep.Summary) != 3 {
		t.Fatalf("game day: repeat %d shuffle %v seed %d, summary %+v", rep.Repeat, rep.Shuffle, rep.Seed, rep.Summary)
	}
	for _, s := range rep.Summary {
		if s.Runs != 2 || s.Passed != 2 || s.Recover.Min <= 0 || s.Recover.Min > s.Recover.Median || s.Recover.Median > s.Recover.Max {
			t.Errorf("summary of %s: %+v", s.Name, s)
		}
	}
	var unseal *report.ScenarioResult
	for i, s := range rep.Scenarios {
		t.Logf("drill %-20s round %d %s detect %5d ms  recover %5d ms", s.Name, s.Round, s.Result, s.TimeToDetectMs, s.TimeToRecoverMs)
		if s.Name == "unseal-runbook" {
			unseal = &rep.Scenarios[i]
		}
	}
	if unseal == nil || len(unseal.Output) != 1 || unseal.Output[0].ExitCode != 0 || !strings.Contains(unseal.Output[0].Output, "Vault is unsealed and active") ||
		!strings.Contains(unseal.Output[0].Output, `"sealed":false`) {
		t.Fatalf("unseal-runbook: the runbook's output is not in the report: %+v", unseal)
	}
	if len(unseal.Probes) == 0 || unseal.Source != example("unseal-runbook.yaml") {
		t.Errorf("unseal-runbook: probes %+v, source %q", unseal.Probes, unseal.Source)
	}
	if _, err := os.Stat(filepath.Join(c.home, name, "secrets", "drill-unseal-keys.json")); !os.IsNotExist(err) {
		t.Errorf("the drill's key file is left in the state: %v", err)
	}

	unsealSh, err := os.ReadFile(example("unseal.sh"))
	if err != nil {
		t.Fatal(err)
	}
	write("unseal.sh", string(unsealSh))
	const head = "apiVersion: labsbx.dev/v1alpha1\nkind: Drill\nmetadata:\n  name: %s\nspec:\n  fault:\n    builtin: seal\n  symptom:\n    - vault: sealed\n"

	// The other built-in faults, each with labsbx's recovery.
	builtins := map[string]string{
		"stop-postgres": "  fault:\n    builtin: stop\n    component: postgres\n  symptom:\n    - creds: webapp\n      expect: fail\n",
		"restart-vault": "  fault:\n    builtin: restart\n    component: vault\n  symptom:\n    - vault: sealed\n",
		"drop-role":     "  fault:\n    builtin: drop-role\n    app: webapp\n  symptom:\n    - creds: webapp\n      expect: fail\n",
	}
	args := []string{"drill", "run", "--name", name}
	for n, spec := range builtins {
		args = append(args, "-f", write(n+".yaml", "apiVersion: labsbx.dev/v1alpha1\nkind: Drill\nmetadata:\n  name: "+n+"\nspec:\n"+spec+
			"  recovery:\n    builtin: true\n  verify:\n    - vault: unsealed\n    - creds: webapp\n      timeout: 1m\n    - sql:\n        as: webapp\n        query: select 1\n"))
	}
	var brep report.Report
	c.json(&brep, args...)
	if brep.Result != report.ResultPassed || len(brep.Scenarios) != len(builtins) {
		t.Errorf("built-in faults: %+v", brep)
	}

	// A file that names production is refused (exit 3) before its fault is injected.
	hostile := write("hostile.yaml", strings.Replace(head, "%s", "hostile", 1)+
		"  recovery:\n    run: vault operator unseal $(jq -r '.unseal_keys_b64[0]' ~/.arcodange/cluster-keys.json)\n  verify:\n    - vault: unsealed\n")
	if r := c.run("drill", "run", "-f", hostile, "--name", name); r.code != 3 || !strings.Contains(r.stderr, ".arcodange") {
		t.Errorf("hostile drill file: exit %d\n%s", r.code, r.stderr)
	}
	// So is one whose loopback URL is not the sandbox's, once the sandbox is known: the
	// guard refuses it in the steady state, before the fault.
	other := write("other-port.yaml", strings.Replace(head, "%s", "other-port", 1)+
		"  recovery:\n    builtin: true\n  verify:\n    - http:\n        url: http://127.0.0.1:1/v1/sys/health\n        status: 200\n")
	if r := c.run("drill", "run", "-f", other, "--name", name); r.code != 3 || !strings.Contains(r.stderr, "not an endpoint of this sandbox") {
		t.Errorf("drill file with another loopback endpoint: exit %d\n%s", r.code, r.stderr)
	}
	if sealed() {
		t.Fatal("a refused drill file sealed Vault")
	}

	// A recovery that fails: exit 4, and the file's rollback unseals.
	failing := write("failing.yaml", strings.Replace(head, "%s", "failing", 1)+
		"  recovery:\n    run: echo \"not today, token $VAULT_TOKEN\"; exit 3\n  rollback:\n    run: ./unseal.sh\n  env:\n    vaultToken: true\n  verify:\n    - vault: unsealed\n")
	failedDir := filepath.Join(t.TempDir(), "failed")
	if r := c.run("drill", "run", "-f", failing, "--name", name, "--report-dir", failedDir); r.code != 4 || !strings.Contains(r.stdout, "spec.recovery.run exited with status 3") {
		t.Errorf("failing recovery: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	checkReports(t, failedDir, 1, 1)
	if sealed() {
		t.Error("the rollback of a failed recovery did not unseal Vault")
	}

	// Interrupted (--no-recover): drill recover runs the file's rollback.
	interrupted := write("interrupted.yaml", strings.Replace(head, "%s", "interrupted", 1)+
		"  recovery:\n    run: ./unseal.sh\n  rollback:\n    run: ./unseal.sh\n  verify:\n    - vault: unsealed\n")
	if r := c.run("drill", "run", "-f", interrupted, "--no-recover", "--name", name); r.code != 4 {
		t.Errorf("--no-recover: exit %d\n%s", r.code, r.stderr)
	}
	if !sealed() {
		t.Fatal("--no-recover: Vault is not sealed")
	}
	if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "interrupted: ran the drill file's rollback") {
		t.Errorf("drill recover:\n%s", r.stdout)
	}
	if sealed() {
		t.Error("drill recover did not roll the file drill back")
	}

	// No secret reached a report or an output.
	for label, s := range secrets {
		if strings.HasPrefix(label, "VAULT_ADDR") || strings.HasPrefix(label, "PG") && label != "PGPASSWORD" || len(s) < 8 {
			continue
		}
		if strings.Contains(c.transcript.String(), s) {
			t.Errorf("secret %s appears in command output", label)
		}
		for _, d := range []string{reports, failedDir} {
			scanDir(t, d, label, s)
		}
	}
}
