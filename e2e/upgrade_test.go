package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/scenarios/report"
)

// TestE2EVaultUpgrade rehearses a Vault upgrade, 1.21.0 to 1.21.1, on vault-profile
// sandboxes: the built-in change drill (every piece of evidence survives; the report
// has both versions and the unavailability window), the example drill files (the
// upgrade as a file, and a config change made through labsbx ci exec), and an
// upgrade left unfinished that drill recover rolls back onto the old image.
func TestE2EVaultUpgrade(t *testing.T) {
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Require(t, tool+" (the example change script uses it)", "apt-get install curl jq")
		}
	}
	c := newLocalImagesCLI(t)
	from, fromVersion := testenv.VaultImage, testenv.VaultVersion
	to, toVersion := testenv.VaultToImage, testenv.VaultToVersion
	if err := exec.Command("docker", "image", "inspect", to).Run(); err != nil {
		testenv.Require(t, "Docker image "+to+" (the Vault the upgrade goes to)", "go tool task upgradeimage")
	}
	c.env["LABSBX_VAULT_IMAGE"] = from

	t.Run("builtin", func(t *testing.T) {
		name := sandboxName("e2eupg")
		t.Cleanup(func() { c.run("down", "--name", name) })
		c.ok("up", "--profile", "vault", "--name", name)
		secrets := readSecrets(t, c, name)
		vaultVersion(t, c, name, fromVersion)

		reports := filepath.Join(t.TempDir(), "upgrade")
		var rep report.Report
		c.json(&rep, "drill", "run", "vault-upgrade", "--to", to, "--name", name, "--report-dir", reports)
		checkReports(t, reports, 1, 0)
		if len(rep.Scenarios) != 1 || rep.Scenarios[0].Change == nil {
			t.Fatalf("report: %+v", rep)
		}
		s := rep.Scenarios[0]
		ch := s.Change
		t.Logf("vault-upgrade %s -> %s: unavailable %d ms, time to recover %d ms, total %d ms",
			ch.FromVersion, ch.ToVersion, ch.UnavailableMs, s.TimeToRecoverMs, s.TotalMs)
		if ch.FromVersion != fromVersion || ch.ToVersion != toVersion ||
			ch.FromImage != from || ch.ToImage != to {
			t.Errorf("versions: %+v", ch)
		}
		if ch.UnavailableMs <= 0 || ch.LastGoodBefore.IsZero() || !ch.FirstGoodAfter.After(ch.LastGoodBefore) || s.TimeToRecoverMs <= 0 {
			t.Errorf("window: %d ms from %s to %s, recover %d ms", ch.UnavailableMs, ch.LastGoodBefore, ch.FirstGoodAfter, s.TimeToRecoverMs)
		}
		if !strings.Contains(ch.Rollback, "downgrades") {
			t.Errorf("rollback: %q", ch.Rollback)
		}
		var names []string
		for _, ev := range ch.Evidence {
			names = append(names, ev.Name)
			if !ev.Survived {
				t.Errorf("evidence lost: %s: %s", ev.Name, ev.Detail)
			}
		}
		for _, want := range []string{"KV v2 kvv2/webapp/upgrade-evidence, 3 versions", "KV v1", "transit ciphertext", "lease", "dynamic Postgres user",
			"CI token", "CI login (JWT)", "app token", "policies"} {
			if !strings.Contains(strings.Join(names, "\n"), want) {
				t.Errorf("no evidence %q in %q", want, names)
			}
		}
		md, err := os.ReadFile(filepath.Join(reports, report.MarkdownFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"### Change: vault-upgrade", "Unavailable for **", "| to | `" + to + "` | " + toVersion + " |"} {
			if !strings.Contains(string(md), want) {
				t.Errorf("report.md lacks %q", want)
			}
		}
		// The sandbox now runs the new Vault, and its state says so.
		st := loadState(t, c, name)
		if st.Spec.Vault.Image != to || st.Vault.Version != toVersion || len(st.Faults) != 0 {
			t.Errorf("state after the upgrade: image %s, version %s, faults %v", st.Spec.Vault.Image, st.Vault.Version, st.Faults)
		}
		vaultVersion(t, c, name, toVersion)

		// A config change made through labsbx ci exec, on the upgraded Vault.
		files := filepath.Join(t.TempDir(), "ci-change")
		var frep report.Report
		c.json(&frep, "drill", "run", "-f", example("ci-config-change.yaml"), "--name", name, "--report-dir", files)
		checkReports(t, files, 1, 0)
		for _, p := range frep.Scenarios[0].Probes {
			if !p.Pass {
				t.Errorf("ci-config-change: %s %s: %s", p.Phase, p.Probe, p.Detail)
			}
		}
		noSecretsIn(t, c, secrets, reports, files)
	})

	t.Run("file-rollback", func(t *testing.T) {
		name := sandboxName("e2eupgf")
		t.Cleanup(func() { c.run("down", "--name", name) })
		c.ok("up", "--profile", "vault", "--name", name)
		secrets := readSecrets(t, c, name)

		// Killed in the middle of the change (once its backup is taken): drill
		// recover brings the old Vault back, unsealed, and nothing is left pending.
		killDuringChange(t, c, name, from, to)
		vaultVersion(t, c, name, fromVersion)

		// Left unfinished: Vault is on the new image, sealed; drill recover restores
		// the pre-change backup onto the old one.
		if r := c.run("drill", "run", "-f", example("vault-upgrade.yaml"), "--no-recover", "--name", name); r.code != 4 {
			t.Fatalf("--no-recover: exit %d\n%s", r.code, r.stderr)
		}
		if st := loadState(t, c, name); st.Spec.Vault.Image != to || len(st.Faults) != 1 {
			t.Fatalf("after an unfinished upgrade: image %s, faults %v", st.Spec.Vault.Image, st.Faults)
		}
		if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "restored the pre-change backup") {
			t.Errorf("drill recover did not roll back:\n%s", r.stdout)
		}
		st := loadState(t, c, name)
		if st.Spec.Vault.Image != from || st.Vault.Version != fromVersion || len(st.Faults) != 0 {
			t.Errorf("after the rollback: image %s, version %s, faults %v", st.Spec.Vault.Image, st.Vault.Version, st.Faults)
		}
		vaultVersion(t, c, name, fromVersion)

		// The upgrade as a drill file, run to the end.
		reports := filepath.Join(t.TempDir(), "file")
		var rep report.Report
		c.json(&rep, "drill", "run", "-f", example("vault-upgrade.yaml"), "--name", name, "--report-dir", reports)
		checkReports(t, reports, 1, 0)
		ch := rep.Scenarios[0].Change
		if ch == nil || ch.ToVersion != toVersion || ch.UnavailableMs <= 0 || len(ch.Evidence) == 0 {
			t.Fatalf("drill file's change: %+v", ch)
		}
		t.Logf("vault-upgrade.yaml %s -> %s: unavailable %d ms, time to recover %d ms", ch.FromVersion, ch.ToVersion, ch.UnavailableMs, rep.Scenarios[0].TimeToRecoverMs)
		vaultVersion(t, c, name, toVersion)
		noSecretsIn(t, c, secrets, reports)
	})
}

// vaultVersion: the sandbox's Vault answers, unsealed, at version want.
func vaultVersion(t *testing.T, c *cli, name, want string) {
	t.Helper()
	out := c.ok("vault", "status", "--name", name).stdout
	if !strings.Contains(out, "Sealed:       false") || !strings.Contains(out, want) {
		t.Errorf("vault status, want unsealed %s:\n%s", want, out)
	}
}

// noSecretsIn: no secret of the sandbox reached a command's output or a report.
func noSecretsIn(t *testing.T, c *cli, secrets map[string]string, dirs ...string) {
	t.Helper()
	for label, s := range secrets {
		if !isSecret(label, s) {
			continue
		}
		if strings.Contains(c.transcript.String(), s) {
			t.Errorf("secret %s appears in command output", label)
		}
		for _, d := range dirs {
			scanDir(t, d, label, s)
		}
	}
}

// isSecret: of what labsbx env prints, the values that are secrets (tokens,
// passwords), not addresses, names or paths.
func isSecret(label, value string) bool {
	switch {
	case strings.HasPrefix(label, "VAULT_ADDR"), strings.HasPrefix(label, "PG") && label != "PGPASSWORD", label == "KUBECONFIG":
		return false
	}
	return len(value) >= 8
}

// killDuringChange starts vault-upgrade, kills labsbx with SIGKILL as soon as the
// pre-change backup is recorded (the change is then under way: Vault stopped,
// removed, made again on the new image), and checks that drill recover converges.
func killDuringChange(t *testing.T, c *cli, name, from, to string) {
	t.Helper()
	cmd := c.command("drill", "run", "vault-upgrade", "--to", to, "--name", name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(c.home, name, "backups", "vault-upgrade.json")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(record); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the drill never recorded its pre-change backup")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "vault-upgrade:") {
		t.Errorf("drill recover after a kill:\n%s", r.stdout)
	}
	if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "no pending drill fault") {
		t.Errorf("second recover:\n%s", r.stdout)
	}
	if st := loadState(t, c, name); st.Spec.Vault.Image != from {
		t.Errorf("after a killed upgrade and drill recover, Vault runs %s", st.Spec.Vault.Image)
	}
}
