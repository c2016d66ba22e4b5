package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/internal/goldenfile"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// The commands, run in-process as helm's cmd/helm tests them: each case is a command
// line, its exit status, and its stdout and stderr compared with golden files under
// testdata/ (go test ./cmd/labsbx -update rewrites them). Nothing here touches Docker,
// a cluster or a Vault: these are the commands that answer from the config, the state
// and the guard alone.

type cmdCase struct {
	name string
	args []string
	code int
}

// runCmd runs labsbx in-process with a state root and a home of its own, and a
// hostile user environment that must not steer it.
func runCmd(t *testing.T, home string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	env := map[string]string{
		"LABSBX_HOME": filepath.Join(home, "state"),
		"HOME":        home,
		"VAULT_ADDR":  "http://192.0.2.10:8200",
		"KUBECONFIG":  "/nonexistent/kubeconfig",
	}
	var out, errb bytes.Buffer
	code = run(args, &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), code
}

// normalise keeps a golden file the same on every machine: temp paths, the Go version
// and the platform become placeholders.
func normalise(s, home string) string {
	s = strings.ReplaceAll(s, home, "$HOME")
	s = strings.ReplaceAll(s, runtime.Version(), "$GOVERSION")
	return strings.ReplaceAll(s, runtime.GOOS+"/"+runtime.GOARCH, "$PLATFORM")
}

// fixedHome is a temp dir whose path has the same length on every run, so that
// tables aligned around it keep their golden shape once it is replaced by $HOME.
func fixedHome(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("labsbx-golden-%08x", rand.Uint32()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func runGolden(t *testing.T, home string, cases []cmdCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(t, home, tc.args...)
			if code != tc.code {
				t.Errorf("labsbx %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, stdout, stderr)
			}
			got := normalise("$ labsbx "+strings.Join(tc.args, " ")+"\n--- stdout\n"+stdout+"--- stderr\n"+stderr, home)
			goldenfile.Assert(t, filepath.Join("cmd", tc.name+".golden"), []byte(got))
		})
	}
}

func TestCommandsGolden(t *testing.T) {
	home := fixedHome(t)
	runGolden(t, home, []cmdCase{
		{"help", []string{"--help"}, 0},
		{"up-help", []string{"up", "--help"}, 0},
		{"down-help", []string{"down", "--help"}, 0},
		{"drill-run-help", []string{"drill", "run", "--help"}, 0},
		{"version", []string{"version"}, 0},
		{"status-empty", []string{"status"}, 0},
		{"status-empty-json", []string{"status", "-o", "json"}, 0},
		{"drill-list", []string{"drill", "list"}, 0},
		{"drill-list-files", []string{"drill", "list", "-f", "../../examples/drills"}, 0},
		{"drill-validate-examples", []string{"drill", "validate", "-f", "../../examples/drills"}, 0},
		{"drill-validate-bad", []string{"drill", "validate", "-f", "testdata/drills/bad.yaml"}, 2},
		{"drill-validate-bad-change", []string{"drill", "validate", "-f", "testdata/drills/bad-change.yaml"}, 2},
		{"drill-run-upgrade-without-to", []string{"drill", "run", "vault-upgrade"}, 2},
		{"drill-run-to-without-change", []string{"drill", "run", "seal", "--to", "labsbx.local/vault:1.21.0"}, 2},
		{"drill-validate-builtin-name", []string{"drill", "validate", "-f", "testdata/drills/builtin-name.yaml"}, 2},
		{"drill-run-builtin-name", []string{"drill", "run", "-f", "testdata/drills/builtin-name.yaml"}, 2},
		{"refused-drill-file", []string{"drill", "validate", "-f", "testdata/drills/hostile.yaml"}, 3},
		{"refused-drill-file-run", []string{"drill", "run", "-f", "testdata/drills/hostile.yaml"}, 3},
		{"usage-drill-shuffle-one", []string{"drill", "run", "seal", "--shuffle"}, 2},
		{"usage-drill-validate-nothing", []string{"drill", "validate"}, 2},
		{"drill-list-json", []string{"drill", "list", "-o", "json"}, 0},
		{"up-dry-run-vault", []string{"up", "--profile", "vault", "--dry-run"}, 0},
		{"up-dry-run-full-json", []string{"up", "--profile", "full", "--dry-run", "-o", "json", "--name", "demo"}, 0},
		{"config-view", []string{"config", "view"}, 0},
		{"config-view-json", []string{"config", "view", "-o", "json"}, 0},
		// Usage: exit 2, one error line and the hint.
		{"usage-unknown-command", []string{"frobnicate"}, 2},
		{"usage-bad-output", []string{"status", "-o", "yaml"}, 2},
		{"usage-bad-name", []string{"status", "--name", "../etc"}, 2},
		{"usage-extra-arg", []string{"version", "extra"}, 2},
		{"usage-drill-nothing", []string{"drill", "run"}, 2},
		{"usage-drill-unknown", []string{"drill", "run", "nope"}, 2},
		{"usage-guard-nothing", []string{"guard", "check"}, 2},
		{"usage-quiet-verbose", []string{"status", "-q", "-v"}, 2},
		{"usage-drill-repeat-zero", []string{"drill", "run", "seal", "--repeat", "0"}, 2},
		{"usage-drill-negative-timeout", []string{"drill", "run", "seal", "--timeout", "-5s"}, 2},
		{"usage-ci-token-negative-ttl", []string{"ci", "token", "webapp", "--ttl", "-1m"}, 2},
		// A config file that cannot be read or is invalid: a usage error too.
		{"missing-config", []string{"config", "view", "--config", "/nonexistent.yaml"}, 2},
		{"invalid-config", []string{"config", "view", "--config", "testdata/bad-config.yaml"}, 2},
		// Failures that are not the guard's: exit 1.
		{"missing-sandbox", []string{"vault", "status", "--name", "ghost"}, 1},
	})
}

// TestGuardCommandsGolden: guard check against a planted sandbox, and the refusals
// (exit 3, `refused: …`) of commands whose target the state does not prove.
func TestGuardCommandsGolden(t *testing.T) {
	home := fixedHome(t)
	store, err := state.NewStore(filepath.Join(home, "state"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	plant := func(name, addr, clusterID string) {
		st := store.New(name, config.DefaultSpec(), now)
		st.UUID = "0b6f5f0e-7c2d-4a8e-b3f1-9d2c4e6a8b10"
		st.Profile, st.Phase = config.ProfileVault, state.PhaseReady
		st.Vault = &state.VaultState{Addr: addr, ClusterID: clusterID}
		if err := store.Save(st, now); err != nil {
			t.Fatal(err)
		}
	}
	plant("demo", "http://127.0.0.1:18200", "c0ffee00-0000-0000-0000-000000000000")
	plant("tampered", "http://192.0.2.10:8200", "c0ffee00-0000-0000-0000-000000000000")
	if err := os.MkdirAll(filepath.Join(home, ".arcodange"), 0o700); err != nil {
		t.Fatal(err)
	}
	runGolden(t, home, []cmdCase{
		{"guard-key-path-ours", []string{"guard", "check", "--name", "demo", "--key-path", filepath.Join(home, "state", "demo", "secrets", "vault-keys.json")}, 0},
		{"guard-key-path-prod", []string{"guard", "check", "--name", "demo", "--key-path", filepath.Join(home, ".arcodange", "cluster-keys.json")}, 3},
		{"guard-vault-offline-json", []string{"guard", "check", "--name", "demo", "--vault-addr", "http://127.0.0.1:18200", "--offline", "-o", "json"}, 0},
		{"guard-vault-other", []string{"guard", "check", "--name", "demo", "--vault-addr", "http://localhost.:18200"}, 3},
		{"refused-tampered-vault", []string{"vault", "status", "--name", "tampered"}, 3},
		{"refused-tampered-drill", []string{"drill", "run", "seal", "--name", "tampered"}, 3},
		{"refused-report-dir", []string{"drill", "run", "seal", "--name", "demo", "--report-dir", filepath.Join(home, "state", "demo")}, 3},
		{"refused-merge-target", []string{"kubeconfig", "merge", "--name", "demo", "--kubeconfig", filepath.Join(home, ".arcodange", "cluster-keys.json")}, 1},
	})
}

// TestJSONOutputsParse: every -o json output above is one JSON document.
func TestJSONOutputsParse(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{
		{"version", "-o", "json"}, {"status", "-o", "json"}, {"drill", "list", "-o", "json"},
		{"up", "--dry-run", "-o", "json"}, {"config", "view", "-o", "json"},
	} {
		stdout, stderr, code := runCmd(t, home, args...)
		var v any
		if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil {
			t.Errorf("labsbx %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// TestMetadataName: a config may name its sandbox with metadata.name; --name wins.
func TestMetadataName(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, "labsbx.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: labsbx.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: ci-42\nspec:\n  profile: vault\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--dry-run", "-o", "json", "--config", cfg}, "ci-42"},
		{[]string{"up", "--dry-run", "-o", "json", "--config", cfg, "--name", "mine"}, "mine"},
		{[]string{"up", "--dry-run", "-o", "json"}, "default"},
	} {
		stdout, stderr, code := runCmd(t, home, tc.args...)
		var plan struct{ Name string }
		if code != 0 || json.Unmarshal([]byte(stdout), &plan) != nil || plan.Name != tc.want {
			t.Errorf("labsbx %s: exit %d, name %q, want %q\n%s", strings.Join(tc.args, " "), code, plan.Name, tc.want, stderr)
		}
	}
}

// A game day's text summary: each run with its round, then each drill's figures.
func TestDrillSummaryTextGameDay(t *testing.T) {
	rep := &report.Report{Repeat: 2, Shuffle: true, Seed: 7,
		Scenarios: []report.ScenarioResult{
			{Name: "seal", Result: report.ResultPassed, Round: 1, TimeToDetectMs: 3, TimeToRecoverMs: 500},
			{Name: "seal", Result: report.ResultFailed, Round: 2, FailedPhase: scenarios.PhaseVerify, Error: "Vault is still sealed"},
		},
		Summary: []report.DrillSummary{{Name: "seal", Runs: 2, Passed: 1,
			Detect: report.Figures{Min: 3, Median: 3, Max: 3}, Recover: report.Figures{Min: 500, Median: 500, Max: 500}}},
	}
	var b bytes.Buffer
	drillSummaryText(&b, rep)
	for _, want := range []string{"seal #1   passed", "seal #2   failed", "Game day: 2 rounds, shuffled, --seed 7", "seal   1/2     3/3/3ms", "500/500/500ms", "seal #2: verify: Vault is still sealed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
