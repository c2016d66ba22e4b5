// Package e2e holds the black-box tests of the built labsbx binary.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
)

var labsbxBin string

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// setup uses $LABSBX_BIN (the Taskfile's build) or builds the binary once.
func setup(m *testing.M) (int, error) {
	defer os.RemoveAll(configHome)
	if b := os.Getenv("LABSBX_BIN"); b != "" {
		labsbxBin = b
		return m.Run(), nil
	}
	dir, err := os.MkdirTemp("", "labsbx-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	labsbxBin = filepath.Join(dir, "labsbx")
	out, err := exec.Command("go", "build", "-o", labsbxBin, "../cmd/labsbx").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("build labsbx: %w\n%s", err, out)
	}
	return m.Run(), nil
}

// cli runs the binary with a state root of its own and a hostile user environment:
// VAULT_ADDR, VAULT_TOKEN and KUBECONFIG point elsewhere, and must never steer it.
type cli struct {
	t    testing.TB
	bin  string // the labsbx binary; "" means the one under test (labsbxBin)
	home string
	env  map[string]string
	// transcript collects every command's output, to scan for secrets.
	transcript bytes.Buffer
}

// configHome is this run's XDG_CONFIG_HOME, shared by every cli of the run: the
// registry of state roots that up writes and down reads is the run's, not the user's.
var configHome = filepath.Join(os.TempDir(), "labsbx-e2e-config-"+runID)

func newCLI(t testing.TB) *cli {
	return &cli{t: t, home: t.TempDir(), env: map[string]string{
		"XDG_CONFIG_HOME":   configHome,
		"VAULT_ADDR":        "http://192.0.2.10:8200",
		"VAULT_TOKEN":       "hvs.not-the-sandbox",
		"VAULT_SKIP_VERIFY": "junk",
		"VAULT_CACERT":      "/nonexistent/ca.pem",
		"VAULT_NAMESPACE":   "prod",
		"KUBECONFIG":        "/nonexistent/kubeconfig",
	}}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LABSBX_") || strings.HasPrefix(k, "VAULT_") || k == "KUBECONFIG" || k == "DOCKER_HOST" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LABSBX_HOME="+c.home)
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	return env
}

// run runs labsbx and returns its output and exit status.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runIn("", args...)
}

// runIn is run in the working directory dir ("": the test's), as a job step in a
// directory of its checkout.
func (c *cli) runIn(dir string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.binary(), args...)
	cmd.Env, cmd.Dir = c.environ(), dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("labsbx %v: %v", args, err)
	}
	if dir != "" {
		fmt.Fprintf(&c.transcript, "(cd %s) ", dir)
	}
	fmt.Fprintf(&c.transcript, "$ labsbx %s\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

func (c *cli) binary() string {
	if c.bin != "" {
		return c.bin
	}
	return labsbxBin
}

// ok runs labsbx and fails the test unless it exits 0.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("labsbx %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// json runs labsbx with -o json and decodes stdout into v.
func (c *cli) json(v any, args ...string) result {
	c.t.Helper()
	r := c.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		c.t.Fatalf("labsbx %s -o json: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return r
}

func TestE2ECLIBasics(t *testing.T) {
	c := newCLI(t)
	var v map[string]any
	c.json(&v, "version")
	if ver, _ := v["version"].(string); ver == "" {
		t.Errorf("version -o json has no version: %v", v)
	}
	if gov, _ := v["go"].(string); gov == "" {
		t.Errorf("version -o json: %v", v)
	}
	var st struct {
		StateRoot string `json:"stateRoot"`
		Sandboxes []any  `json:"sandboxes"`
	}
	c.json(&st, "status")
	if st.StateRoot != c.home || len(st.Sandboxes) != 0 {
		t.Errorf("status on an empty root: %+v", st)
	}
	if r := c.ok("config", "view"); !strings.Contains(r.stdout, "apiVersion: labsbx.dev/v1alpha1") {
		t.Errorf("config view:\n%s", r.stdout)
	}
	if r := c.ok("completion", "bash"); !strings.Contains(r.stdout, "labsbx") {
		t.Error("no bash completion")
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"status", "-o", "yaml"}, 2, "invalid output format"},
		{[]string{"status", "--name", "../etc"}, 2, "invalid sandbox name"},
		{[]string{"version", "extra"}, 2, "takes no arguments"},
		{[]string{"drill", "run"}, 2, "name a scenario"},
		{[]string{"drill", "run", "nope"}, 2, "unknown scenario"},
		{[]string{"config", "view", "--config", "/nonexistent.yaml"}, 2, "read config"},
		{[]string{"config", "view", "--config", writeTemp(t, "bad.yaml", "apiVersion: labsbx.dev/v1alpha1\nkind: Config\nspec:\n  profil: vault\n")}, 2, "unknown field"},
		{[]string{"drill", "validate", "-f", writeTemp(t, "seal.yaml", builtinNamedDrill)}, 2, "name of a built-in drill"},
		{[]string{"drill", "run", "-f", writeTemp(t, "seal.yaml", builtinNamedDrill)}, 2, "name of a built-in drill"},
		{[]string{"drill", "run", "seal", "--repeat", "0"}, 2, "--repeat must be at least 1"},
		{[]string{"drill", "run", "seal", "--timeout", "-5s"}, 2, "--timeout must not be negative"},
		{[]string{"vault", "status", "--name", "ghost"}, 1, "sandbox not found"},
	} {
		r := c.run(tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("labsbx %v: exit %d, stderr %q; want exit %d with %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
		if strings.Count(r.stderr, tc.msg) != 1 {
			t.Errorf("labsbx %v: the error is printed %d times", tc.args, strings.Count(r.stderr, tc.msg))
		}
	}
}

// builtinNamedDrill is a valid drill file that takes the name of the built-in seal.
const builtinNamedDrill = `apiVersion: labsbx.dev/v1alpha1
kind: Drill
metadata:
  name: seal
  description: named like the built-in
spec:
  steady:
    - vault: unsealed
  fault:
    builtin: seal
  symptom:
    - vault: sealed
  recovery:
    builtin: true
  verify:
    - vault: unsealed
`

// writeTemp writes content to a new file called name in a temp dir of the test.
func writeTemp(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// command prepares labsbx without running it.
func (c *cli) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.binary(), args...)
	cmd.Env = c.environ()
	return cmd
}

// newLocalImagesCLI is newCLI for a vault-profile sandbox on the local test images; the
// test stops through testenv.Require without Docker or the images.
func newLocalImagesCLI(t testing.TB) *cli {
	testenv.RequireImage(t, testenv.VaultImage)
	testenv.RequireImage(t, testenv.PostgresImage)
	c := newCLI(t)
	c.env["LABSBX_VAULT_IMAGE"] = testenv.VaultImage
	c.env["LABSBX_POSTGRES_IMAGE"] = testenv.PostgresImage
	return c
}

// runID tells this test process's sandboxes from those of an earlier run that was
// killed before its cleanup (the guard rightly refuses to touch those).
var runID = func() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}()

// sandboxName is base with this run's ID: a name no leftover of another run holds.
func sandboxName(base string) string { return base + "-" + runID }
