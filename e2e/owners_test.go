package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// TestE2EDownNeverHintsAtAnotherRootsSandbox: a down from the wrong state root names
// the root that owns what it found, even one that no registry records (the default
// root); the command it prints removes nothing of a live sandbox elsewhere; --uuid
// refuses a known owner and a Vault whose cluster_id a known state records; and a
// state whose UUID was edited keeps its dir and unseal key while the Vault volume
// exists.
func TestE2EDownNeverHintsAtAnotherRootsSandbox(t *testing.T) {
	// a's root is the default root of its XDG_STATE_HOME.
	a := newLocalImagesCLI(t)
	xdg := t.TempDir()
	a.env["XDG_STATE_HOME"] = xdg
	a.home = filepath.Join(xdg, "labsbx")
	name := sandboxName("owner")
	t.Cleanup(func() { a.run("down", "--name", name) })
	a.ok("up", "--profile", "vault", "--name", name)
	st := loadState(t, a, name)
	objects := dockerObjects(t, name)
	if len(objects) != 5 {
		t.Fatalf("after up, objects of %s: %v", name, objects)
	}
	same := func(label string) {
		t.Helper()
		if got := dockerObjects(t, name); strings.Join(got, ",") != strings.Join(objects, ",") {
			t.Fatalf("%s removed objects of the live sandbox: %v -> %v", label, objects, got)
		}
	}
	hint := "LABSBX_HOME=" + a.home + " labsbx down --name " + name

	// b: another LABSBX_HOME, the same XDG_STATE_HOME, a registry that never heard
	// of a's root: the default root is searched all the same.
	b := newLocalImagesCLI(t)
	b.env["XDG_STATE_HOME"] = xdg
	b.env["XDG_CONFIG_HOME"] = t.TempDir()
	r := b.run("down", "--name", name)
	if !strings.Contains(r.stderr, hint) || strings.Contains(r.stderr, "--uuid") {
		t.Errorf("down from another root: exit %d, stderr %q; want the hint %q and no --uuid", r.code, r.stderr, hint)
	}
	same("down from another root")

	// c: another root and XDG_STATE_HOME; a's root is known from the registry up wrote.
	c := newLocalImagesCLI(t)
	r = c.run("down", "--name", name)
	if !strings.Contains(r.stderr, hint) || strings.Contains(r.stderr, "--uuid") {
		t.Errorf("down from a third root: exit %d, stderr %q; want the hint %q", r.code, r.stderr, hint)
	}
	same("down from a third root")
	// The UUID the objects carry is a's: --uuid refuses, and names a's root.
	r = c.run("down", "--name", name, "--uuid", st.UUID)
	if r.code != 3 || !strings.Contains(r.stderr, hint) || strings.Contains(r.stderr, "--force") {
		t.Errorf("down --uuid of a live sandbox with a known owner: exit %d, %q", r.code, r.stderr)
	}
	same("down --uuid of a sandbox with a known owner")
	// A root the registry knows holds a state whose Vault cluster_id is a's (a's state
	// copied, its UUID changed): the running Vault answers with it, so --uuid refuses.
	d := newLocalImagesCLI(t)
	e := newLocalImagesCLI(t)
	e.env["XDG_CONFIG_HOME"] = t.TempDir()
	store, err := state.NewStore(d.home)
	if err != nil {
		t.Fatal(err)
	}
	cp := store.New(name, config.DefaultSpec(), time.Now())
	cp.Vault = &state.VaultState{Addr: st.Vault.Addr, ClusterID: st.Vault.ClusterID}
	if err := store.Save(cp, time.Now()); err != nil {
		t.Fatal(err)
	}
	// e's registry knows only d's root; a's state is not found by UUID there.
	e.env["XDG_STATE_HOME"] = t.TempDir()
	writeRegistry(t, e.env["XDG_CONFIG_HOME"], d.home)
	r = e.run("down", "--name", name, "--uuid", st.UUID)
	if r.code != 3 || !strings.Contains(r.stderr, st.Vault.ClusterID) || !strings.Contains(r.stderr, "LABSBX_HOME="+d.home) {
		t.Errorf("down --uuid of a Vault whose cluster_id a known state records: exit %d, %q", r.code, r.stderr)
	}
	same("down --uuid of a live Vault")

	// a's own state with its UUID edited: down leaves every object (they carry the old
	// UUID), and keeps the state dir and the key of the Vault volume it left.
	edited := loadState(t, a, name)
	edited.UUID = uuid.NewString()
	saveState(t, a, edited)
	r = a.run("down", "--name", name)
	if r.code == 0 || !strings.Contains(r.stderr, "state dir kept") {
		t.Errorf("down over an edited UUID: exit %d, %q", r.code, r.stderr)
	}
	same("down over an edited UUID")
	if _, err := os.Stat(filepath.Join(a.home, name, "secrets", "vault-keys.json")); err != nil {
		t.Errorf("the unseal key of a Vault volume that still exists was removed: %v", err)
	}
	edited.UUID = st.UUID
	saveState(t, a, edited)
	a.ok("down", "--name", name)
	if got := dockerObjects(t, name); len(got) != 0 {
		t.Errorf("down with the UUID restored left %v", got)
	}
}

// writeRegistry writes the registry of state roots under configHome.
func writeRegistry(t *testing.T, configHome string, roots ...string) {
	t.Helper()
	p := filepath.Join(configHome, "labsbx", "roots.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	body := `{"apiVersion": "` + config.APIVersion + `", "roots": ["` + strings.Join(roots, `", "`) + `"]}`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
