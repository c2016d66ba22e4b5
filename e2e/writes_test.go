package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The adversarial tier for what labsbx writes: every file it writes outside its state
// dir is judged by the guard first. Each hostile target must be refused with exit 3,
// promptly (a FIFO never blocks), with the victim byte-for-byte and mode-for-mode as it
// was, and no lock file or temp file left beside it.

// victim is a path a hostile target leads to, with what must stay true of it.
type victim struct {
	path string
	data []byte // nil: not a regular file (or absent), compared by type only
	mode fs.FileMode
	dir  bool
}

func snapshot(t *testing.T, p string) victim {
	t.Helper()
	v := victim{path: p}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return v
	}
	if err != nil {
		t.Fatal(err)
	}
	v.mode = fi.Mode()
	if fi.Mode().IsRegular() {
		if v.data, err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if fi.IsDir() {
		v.dir = true
	}
	return v
}

// untouched fails the test when p changed, or when anything new appeared beside it.
func (v victim) untouched(t *testing.T, label string, before []string) {
	t.Helper()
	now := snapshot(t, v.path)
	if now.mode != v.mode || !bytes.Equal(now.data, v.data) {
		t.Errorf("%s: %s changed (mode %v -> %v, %d -> %d bytes)", label, v.path, v.mode, now.mode, len(v.data), len(now.data))
	}
	if after := listDir(t, filepath.Dir(v.path)); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("%s: the directory of %s changed: %v -> %v", label, v.path, before, after)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// runQuick runs labsbx with a deadline: a hostile target must never make it hang.
func (c *cli) runQuick(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.binary(), args...)
	cmd.Env = c.environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("labsbx %s hung (killed after 30s)", strings.Join(args, " "))
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustWrite(t *testing.T, p string, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestE2EGuardRefusesHostileWrites points kubeconfig merge and drill reports at files
// that are not labsbx's to write.
func TestE2EGuardRefusesHostileWrites(t *testing.T) {
	c := newCLI(t)
	home := t.TempDir()
	c.env["HOME"] = home
	plantCluster(t, c, "kc", "https://127.0.0.1:36443")
	scratch := t.TempDir()

	// Production's key file, as the lab keeps it.
	prodKeys := filepath.Join(home, ".arcodange", "cluster-keys.json")
	mustWrite(t, prodKeys, `{"unseal_keys_b64":["cHJvZC1rZXk="],"root_token":"hvs.prod-root"}`+"\n", 0o600)
	// Another state root, with a sandbox of its own.
	otherRoot := t.TempDir()
	other := &cli{t: t, home: otherRoot, env: c.env}
	plantState(t, other, "other", "http://127.0.0.1:1", "")
	otherKeys := filepath.Join(otherRoot, "other", "secrets", "vault-keys.json")
	mustWrite(t, otherKeys, `{"unseal_keys_b64":["b3RoZXI="],"root_token":"hvs.other"}`+"\n", 0o600)
	ownKeys := filepath.Join(c.home, "kc", "secrets", "vault-keys.json")
	mustWrite(t, ownKeys, `{"unseal_keys_b64":["b3du"],"root_token":"hvs.own"}`+"\n", 0o600)

	fifo := filepath.Join(scratch, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(scratch, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	yamlFile := filepath.Join(scratch, "values.yaml")
	mustWrite(t, yamlFile, "replicas: 3\nimage: app:1\n", 0o644)
	keysJSON := filepath.Join(scratch, "keys.json")
	mustWrite(t, keysJSON, `{"unseal_keys_b64":["a2V5"],"root_token":"hvs.x"}`, 0o600)
	named := filepath.Join(scratch, "backup", "CLUSTER-KEYS.JSON")
	mustWrite(t, named, "apiVersion: v1\nkind: Config\n", 0o600)
	plainFile := filepath.Join(scratch, "plain")
	mustWrite(t, plainFile, "x", 0o644)
	mustLink(t, prodKeys, filepath.Join(scratch, "to-prod"))
	mustLink(t, "/dev/zero", filepath.Join(scratch, "to-zero"))
	mustLink(t, filepath.Join(home, ".arcodange", "new-config"), filepath.Join(scratch, "dangling-to-arcodange"))
	mustLink(t, filepath.Join(scratch, "loop-b"), filepath.Join(scratch, "loop-a"))
	mustLink(t, filepath.Join(scratch, "loop-a"), filepath.Join(scratch, "loop-b"))
	mustLink(t, filepath.Join(home, ".arcodange"), filepath.Join(scratch, "kube-dir"))
	mustLink(t, otherKeys, filepath.Join(scratch, "to-other-sandbox"))

	type target struct {
		label, path string
		victim      string // what must stay untouched ("" = path)
	}
	merges := []target{
		{"the production key file", prodKeys, ""},
		{"a new file under ~/.arcodange", filepath.Join(home, ".arcodange", "config"), ""},
		{"a symlink to the production key file", filepath.Join(scratch, "to-prod"), prodKeys},
		{"a file named CLUSTER-KEYS.JSON", named, ""},
		{"the sandbox's own key file", ownKeys, ""},
		{"another sandbox's key file", otherKeys, ""},
		{"a symlink into another sandbox's secrets", filepath.Join(scratch, "to-other-sandbox"), otherKeys},
		{"another sandbox's state file", filepath.Join(otherRoot, "other", "state.json"), ""},
		{"a new file in this state root", filepath.Join(c.home, "config"), ""},
		{"/dev/zero", "/dev/zero", ""},
		{"/dev/null", "/dev/null", ""},
		{"a symlink to /dev/zero", filepath.Join(scratch, "to-zero"), "/dev/zero"},
		{"a FIFO", fifo, ""},
		{"a unix socket", sock, ""},
		{"a directory", scratch, ""},
		{"an unrelated YAML file", yamlFile, ""},
		{"a key file under another name", keysJSON, ""},
		{"a dangling symlink into ~/.arcodange", filepath.Join(scratch, "dangling-to-arcodange"), filepath.Join(scratch, "dangling-to-arcodange")},
		{"a symlink loop", filepath.Join(scratch, "loop-a"), filepath.Join(scratch, "loop-a")},
		{"a path below a regular file", filepath.Join(plainFile, "config"), plainFile},
		{"a directory symlinked to ~/.arcodange", filepath.Join(scratch, "kube-dir", "config"), filepath.Join(home, ".arcodange", "cluster-keys.json")},
	}
	n := 0
	for _, tc := range merges {
		v := tc.victim
		if v == "" {
			v = tc.path
		}
		snap, before := snapshot(t, v), listDir(t, filepath.Dir(v))
		r := c.runQuick(t, "kubeconfig", "merge", "--name", "kc", "--kubeconfig", tc.path)
		if r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("merge into %s (%s): exit %d, stderr %q; want exit 3", tc.label, tc.path, r.code, r.stderr)
		}
		snap.untouched(t, "merge into "+tc.label, before)
		n++
	}
	// The default target, ~/.kube/config, as a symlink to the production key file.
	mustLink(t, prodKeys, filepath.Join(home, ".kube", "config"))
	snap, before := snapshot(t, prodKeys), listDir(t, filepath.Dir(prodKeys))
	if r := c.runQuick(t, "kubeconfig", "merge", "--name", "kc"); r.code != 3 || !refusedLine(r.stderr) {
		t.Errorf("merge into ~/.kube/config linked to the key file: exit %d, %q", r.code, r.stderr)
	}
	snap.untouched(t, "merge into ~/.kube/config -> cluster-keys.json", before)
	if _, err := os.Lstat(filepath.Join(home, ".kube", "config.lock")); err == nil {
		t.Error("a refused merge left ~/.kube/config.lock")
	}
	n++

	// Report directories: judged before the drill runs (the sandbox need not exist).
	reports := t.TempDir()
	mustWrite(t, filepath.Join(reports, "foreign-md", "report.md"), "# My notes\n", 0o644)
	mustWrite(t, filepath.Join(reports, "foreign-json", "report.json"), `{"name":"mine"}`, 0o644)
	mustLink(t, prodKeys, filepath.Join(reports, "linked", "junit.xml"))
	if err := os.MkdirAll(filepath.Join(reports, "fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(reports, "fifo", "report.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	reportTargets := []target{
		{"~/.arcodange", filepath.Join(home, ".arcodange"), prodKeys},
		{"a sandbox's state dir", filepath.Join(c.home, "kc"), filepath.Join(c.home, "kc", "state.json")},
		{"another root's sandbox secrets", filepath.Join(otherRoot, "other", "secrets"), otherKeys},
		{"a dir with someone's report.md", filepath.Join(reports, "foreign-md"), filepath.Join(reports, "foreign-md", "report.md")},
		{"a dir with someone's report.json", filepath.Join(reports, "foreign-json"), filepath.Join(reports, "foreign-json", "report.json")},
		{"a dir whose junit.xml links to the key file", filepath.Join(reports, "linked"), prodKeys},
		{"a dir whose report.json is a FIFO", filepath.Join(reports, "fifo"), filepath.Join(reports, "fifo", "report.json")},
		{"/dev/null", "/dev/null", ""},
		{"a regular file", plainFile, ""},
	}
	for _, tc := range reportTargets {
		v := tc.victim
		if v == "" {
			v = tc.path
		}
		snap, before := snapshot(t, v), listDir(t, filepath.Dir(v))
		r := c.runQuick(t, "drill", "run", "seal", "--name", "kc", "--report-dir", tc.path)
		if r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("--report-dir %s (%s): exit %d, stderr %q; want exit 3", tc.label, tc.path, r.code, r.stderr)
		}
		snap.untouched(t, "reports into "+tc.label, before)
		n++
	}
	// Bundle directories: judged before any image is saved.
	for _, tc := range []target{
		{"~/.arcodange", filepath.Join(home, ".arcodange", "bundle"), prodKeys},
		{"a non-empty directory of someone else's", filepath.Join(reports, "foreign-md"), filepath.Join(reports, "foreign-md", "report.md")},
	} {
		snap, before := snapshot(t, tc.victim), listDir(t, filepath.Dir(tc.victim))
		r := c.runQuick(t, "bundle", "save", tc.path)
		if r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("bundle save %s (%s): exit %d, stderr %q; want exit 3", tc.label, tc.path, r.code, r.stderr)
		}
		snap.untouched(t, "bundle into "+tc.label, before)
		n++
	}
	t.Logf("%d hostile write targets refused", n)

	// And the ordinary case still works: a new file, then the same file again.
	ok := filepath.Join(t.TempDir(), "config")
	c.ok("kubeconfig", "merge", "--name", "kc", "--kubeconfig", ok)
	c.ok("kubeconfig", "merge", "--name", "kc", "--kubeconfig", ok)
	c.ok("kubeconfig", "unmerge", "--name", "kc")
}

// TestE2EHostileInputs: user-supplied paths are read as bounded regular files; a FIFO
// or a device is refused at once, with a clear error.
func TestE2EHostileInputs(t *testing.T) {
	c := newCLI(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fifoBundle := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifoBundle, "bundle.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"config", "view", "--config", "/dev/zero"},
		{"config", "view", "--config", fifo},
		{"up", "--config", fifo, "--dry-run"},
		{"bundle", "inspect", "/dev/zero"},
		{"bundle", "inspect", fifoBundle},
	} {
		r := c.runQuick(t, args...)
		if r.code == 0 || strings.Contains(r.stderr, "goroutine") || !strings.Contains(r.stderr, "error: ") {
			t.Errorf("labsbx %s: exit %d, stderr %q; want a one-line error", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// App slugs that are Vault's or Kubernetes' own names are refused before anything.
	for _, app := range []string{"default", "root", "kube-system", "vault"} {
		cfg := filepath.Join(t.TempDir(), "labsbx.yaml")
		mustWrite(t, cfg, fmt.Sprintf("apiVersion: labsbx.dev/v1alpha1\nkind: Sandbox\nspec:\n  profile: vault\n  apps: [webapp, %s]\n", app), 0o644)
		r := c.runQuick(t, "up", "--config", cfg, "--name", "slug")
		if r.code != 2 || !strings.Contains(r.stderr, "spec.apps[1]") || !strings.Contains(r.stderr, "cannot be an app slug") {
			t.Errorf("app %q: exit %d, stderr %q", app, r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(c.home, "slug")); err == nil {
			t.Errorf("app %q: up made a state dir before refusing the config", app)
		}
	}
	// Loosened modes on a state are repaired, with a warning.
	plantState(t, c, "loose", "http://127.0.0.1:1", "")
	for _, p := range []string{c.home, filepath.Join(c.home, "loose")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(c.home, "loose", "state.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.run("status", "--name", "loose")
	if !strings.Contains(r.stderr, "repaired the mode of") {
		t.Errorf("status over loosened modes: %q", r.stderr)
	}
	for p, want := range map[string]fs.FileMode{c.home: 0o700, filepath.Join(c.home, "loose"): 0o700, filepath.Join(c.home, "loose", "state.json"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}
