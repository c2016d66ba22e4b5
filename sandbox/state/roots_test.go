package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
)

// up records each state root it uses; down looks in the current root, the default
// root and every recorded one for the state that owns a UUID or a Vault cluster_id,
// reading it without changing anything.
func TestRootsRegistry(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{EnvConfigHome: filepath.Join(dir, "config"), EnvXDG: filepath.Join(dir, "xdg")}
	getenv := func(k string) string { return env[k] }
	a, b, def := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "xdg", "labsbx")
	stores := map[string]*Store{}
	for _, r := range []string{a, b, def} {
		s, err := NewStore(r)
		if err != nil {
			t.Fatal(err)
		}
		stores[r] = s
	}
	now := time.Now()
	inA := stores[a].New("demo", config.DefaultSpec(), now)
	inA.Vault = &VaultState{ClusterID: "cluster-a"}
	if err := stores[a].Save(inA, now); err != nil {
		t.Fatal(err)
	}
	inDef := stores[def].New("demo", config.DefaultSpec(), now)
	if err := stores[def].Save(inDef, now); err != nil {
		t.Fatal(err)
	}
	// Loosened modes stay as they are: Peek changes nothing in another root.
	if err := os.Chmod(filepath.Join(a, "demo"), 0o755); err != nil {
		t.Fatal(err)
	}

	roots, err := KnownRoots(getenv, b)
	if err != nil || len(roots) != 2 || roots[0] != b || roots[1] != def {
		t.Fatalf("before a is recorded: %v, %v", roots, err)
	}
	if _, ok := FindOwner(roots, "demo", inA.UUID); ok {
		t.Error("found an owner in a root nobody recorded")
	}
	if p, ok := FindOwner(roots, "demo", inDef.UUID); !ok || p.Root != def {
		t.Errorf("the default root is always searched: %+v %v", p, ok)
	}
	for range 2 {
		if err := RegisterRoot(getenv, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := RegisterRoot(getenv, filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	roots, err = KnownRoots(getenv, b)
	if err != nil || len(roots) != 3 {
		t.Fatalf("after a is recorded: %v, %v", roots, err)
	}
	if p, ok := FindOwner(roots, "demo", inA.UUID); !ok || p.Root != a || p.ClusterID != "cluster-a" {
		t.Errorf("FindOwner: %+v %v", p, ok)
	}
	if p, ok := FindClusterID(roots, "demo", "cluster-a"); !ok || p.UUID != inA.UUID {
		t.Errorf("FindClusterID: %+v %v", p, ok)
	}
	if _, ok := FindClusterID(roots, "demo", ""); ok {
		t.Error("an empty cluster_id matched")
	}
	if fi, err := os.Stat(filepath.Join(a, "demo")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("Peek changed another root's state dir: %v %v", fi.Mode(), err)
	}
	file, _ := RootsFile(getenv)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("registry %s: %v", file, err)
	}
}
