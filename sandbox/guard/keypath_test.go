package guard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// keyEnv is a temp layout: a fake home with .arcodange, a state dir, and a
// directory outside both.
type keyEnv struct {
	root, home, state, outside string
}

func newKeyEnv(t testing.TB) keyEnv {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := keyEnv{root: root, home: filepath.Join(root, "home"), state: filepath.Join(root, "state"), outside: filepath.Join(root, "outside")}
	for _, d := range []string{filepath.Join(e.home, ".arcodange"), e.state, e.outside, filepath.Join(e.state, "adir")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(e.home, ".arcodange", "cluster-keys.json"), []byte(`{"prod":true}`), 0o600))
	must(os.WriteFile(filepath.Join(e.state, "real.json"), []byte("k"), 0o600))
	must(os.Symlink(filepath.Join(e.home, ".arcodange"), filepath.Join(e.state, "link-to-arcodange")))
	must(os.Symlink(e.outside, filepath.Join(e.state, "escape")))
	must(os.WriteFile(filepath.Join(e.outside, "existing.json"), []byte("x"), 0o600))
	must(os.Symlink(filepath.Join(e.outside, "existing.json"), filepath.Join(e.state, "file-link.json")))
	must(os.Symlink(filepath.Join(e.state, "real.json"), filepath.Join(e.state, "inner-link.json")))
	must(os.Symlink(filepath.Join(e.root, "nowhere", "x"), filepath.Join(e.state, "dangling.json")))
	must(os.Symlink(filepath.Join(e.home, ".arcodange", "cluster-keys.json"), filepath.Join(e.state, "ok.json")))
	must(os.Symlink(e.state, filepath.Join(e.root, "state-link")))
	return e
}

func TestApproveKeyPath(t *testing.T) {
	e := newKeyEnv(t)
	rec := Record{Name: "demo", UUID: fxUUID, StateDir: e.state}
	j := filepath.Join
	cases := []struct {
		name, stateDir, path, want string
	}{
		{"good", "", j(e.state, "vault-keys.json"), ""},
		{"good in a new subdir", "", j(e.state, "vault", "unseal.json"), ""},
		{"symlink inside the state dir", "", j(e.state, "inner-link.json"), ""},
		{"state dir reached through a symlink", j(e.root, "state-link"), j(e.root, "state-link", "keys.json"), ""},
		{"production keys", "", j(e.home, ".arcodange", "cluster-keys.json"), "named cluster-keys.json"},
		{"cluster-keys.json in the state dir", "", j(e.state, "cluster-keys.json"), "named cluster-keys.json"},
		{"cluster-keys.json any case", "", j(e.state, "Cluster-Keys.JSON"), "named cluster-keys.json"},
		{"dotdot", "", e.state + "/../state/keys.json", "contains '..'"},
		{"dotdot escaping", "", e.state + "/../outside/keys.json", "contains '..'"},
		{"relative", "", "keys.json", "is relative"},
		{"dot relative", "", "./keys.json", "is relative"},
		{"under .arcodange", "", j(e.home, ".arcodange", "unseal.json"), ".arcodange"},
		{"under .ARCODANGE", "", j(e.home, ".ARCODANGE", "unseal.json"), ".arcodange"},
		{"symlinked dir into .arcodange", "", j(e.state, "link-to-arcodange", "unseal.json"), ".arcodange"},
		{"symlink to production keys", "", j(e.state, "ok.json"), ".arcodange"},
		{"symlinked dir escaping", "", j(e.state, "escape", "keys.json"), "outside the state dir"},
		{"symlinked file escaping", "", j(e.state, "file-link.json"), "outside the state dir"},
		{"dangling symlink", "", j(e.state, "dangling.json"), "cannot resolve"},
		{"outside", "", "/etc/passwd", "not inside the state dir"},
		{"the state dir itself", "", e.state, "not inside the state dir"},
		{"a directory", "", j(e.state, "adir"), "not a regular file"},
		{"state dir under .arcodange", j(e.home, ".arcodange"), j(e.home, ".arcodange", "keys.json"), "state dir"},
		{"relative state dir", "state", j(e.state, "keys.json"), "no absolute state dir"},
		{"missing state dir", j(e.root, "gone"), j(e.root, "gone", "keys.json"), "state dir"},
		{"empty", "", "", "is relative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rec
			if tc.stateDir != "" {
				r.StateDir = tc.stateDir
			}
			kr, rep, err := approveKeyPath(r, tc.path, []string{e.home})
			assertDecision(t, err == nil, rep, err, tc.want)
			if err == nil && !within(kr.resolved, kr.stateRes) {
				t.Errorf("approved %q resolving to %q outside %q", tc.path, kr.resolved, kr.stateRes)
			}
		})
	}
}

// The real home's ~/.arcodange is refused through the public entry point.
func TestApproveKeyPathRealHome(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("no home directory: %v", err)
	}
	rec := Record{Name: "demo", UUID: fxUUID, StateDir: t.TempDir()}
	for _, p := range []string{filepath.Join(home, ".arcodange", "cluster-keys.json"), filepath.Join(home, ".arcodange", "sandbox.json")} {
		if _, err := ApproveKeyPath(rec, p); !errors.Is(err, ErrRefused) {
			t.Errorf("ApproveKeyPath(%q) = %v, want refusal", p, err)
		}
	}
}

func TestKeyPathReadWrite(t *testing.T) {
	e := newKeyEnv(t)
	rec := Record{Name: "demo", UUID: fxUUID, StateDir: e.state}
	kp, err := ApproveKeyPath(rec, filepath.Join(e.state, "vault", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.WriteFile([]byte(`{"unseal":"k"}`)); err != nil {
		t.Fatal(err)
	}
	if err := kp.WriteFile([]byte(`{"unseal":"k2"}`)); err != nil { // overwrite, atomically
		t.Fatal(err)
	}
	got, err := kp.ReadFile()
	if err != nil || string(got) != `{"unseal":"k2"}` {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	fi, _ := os.Stat(kp.Path())
	di, _ := os.Stat(filepath.Dir(kp.Path()))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes: file %v dir %v, want 0600 and 0700", fi.Mode().Perm(), di.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(kp.Path()), ".labsbx-key-*"))
	if len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}

	// After approval, the directory is swapped for a link outside: refused.
	if err := os.Rename(filepath.Join(e.state, "vault"), filepath.Join(e.state, "vault.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.outside, filepath.Join(e.state, "vault")); err != nil {
		t.Fatal(err)
	}
	if err := kp.WriteFile([]byte("x")); !errors.Is(err, ErrRefused) {
		t.Errorf("WriteFile through a swapped-in symlink = %v, want refusal", err)
	}
	if _, err := kp.ReadFile(); !errors.Is(err, ErrRefused) {
		t.Errorf("ReadFile through a swapped-in symlink = %v, want refusal", err)
	}
	if _, err := os.Stat(filepath.Join(e.outside, "keys.json")); err == nil {
		t.Error("a key file was written outside the state dir")
	}
}
