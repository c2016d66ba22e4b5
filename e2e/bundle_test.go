package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// TestE2EBundle saves an offline bundle of the vault profile, removes its images from
// Docker, and brings a sandbox up from the bundle alone. The images are the local test
// images under names of this test's own, so that removing them touches nothing else.
func TestE2EBundle(t *testing.T) {
	c := newLocalImagesCLI(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	vaultRef := "labsbx.local/e2e-bundle-vault:" + tag
	pgRef := "labsbx.local/e2e-bundle-postgres:" + tag
	dockerCLI(t, "tag", testenv.VaultImage, vaultRef)
	dockerCLI(t, "tag", testenv.PostgresImage, pgRef)
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", vaultRef, pgRef).Run() })
	c.env["LABSBX_VAULT_IMAGE"] = vaultRef
	c.env["LABSBX_POSTGRES_IMAGE"] = pgRef

	dir := filepath.Join(t.TempDir(), "bundle")
	var m struct {
		Profile string `json:"profile"`
		Images  []struct{ Ref, ID, File, SHA256 string }
		Charts  []struct{ Name string }
	}
	c.json(&m, "bundle", "save", dir, "--profile", "vault")
	if m.Profile != "vault" || len(m.Images) != 2 || len(m.Charts) != 0 {
		t.Fatalf("bundle save: %+v", m)
	}
	refs := map[string]bool{m.Images[0].Ref: true, m.Images[1].Ref: true}
	if !refs[vaultRef] || !refs[pgRef] {
		t.Fatalf("bundle images %v, want %s and %s", refs, vaultRef, pgRef)
	}
	// A second save keeps what is there.
	var again struct{ Images []struct{ SHA256 string } }
	c.json(&again, "bundle", "save", dir, "--profile", "vault")
	if again.Images[0].SHA256 != m.Images[0].SHA256 {
		t.Error("a second bundle save rewrote an image")
	}
	var insp struct {
		Covers   bool `json:"covers"`
		Verified bool `json:"verified"`
	}
	c.json(&insp, "bundle", "inspect", dir, "--verify")
	if !insp.Covers || !insp.Verified {
		t.Errorf("bundle inspect: %+v", insp)
	}
	// The vault profile's bundle does not cover the full profile; inspect says what lacks.
	if r := c.run("bundle", "inspect", dir, "--profile", "full"); r.code != 1 || !strings.Contains(r.stderr, "lacks image") {
		t.Errorf("inspect --profile full: exit %d\n%s", r.code, r.stderr)
	}

	// The bundle is now the only source of these images.
	dockerCLI(t, "image", "rm", vaultRef, pgRef)
	name := sandboxName("bundle")
	t.Cleanup(func() { c.run("down", "--name", name) })
	var up upResult
	c.json(&up, "up", "--profile", "vault", "--name", name, "--bundle", dir)
	loaded := 0
	for _, ch := range up.Changes {
		if strings.HasPrefix(ch, "loaded image ") && strings.HasSuffix(ch, " from the bundle") {
			loaded++
		}
	}
	if loaded != 2 || !strings.HasPrefix(up.VaultAddr, "http://127.0.0.1:") {
		t.Fatalf("up --bundle: %+v", up)
	}
	var second upResult
	c.json(&second, "up", "--profile", "vault", "--name", name, "--bundle", dir)
	if len(second.Changes) != 0 {
		t.Errorf("second up --bundle changed: %v", second.Changes)
	}
	c.ok("vault", "status", "--name", name)

	// Bad bundles fail before anything is touched, and say what to do.
	empty := t.TempDir()
	if r := c.run("up", "--profile", "vault", "--name", "other", "--bundle", empty); r.code != 1 || !strings.Contains(r.stderr, "labsbx bundle save") {
		t.Errorf("up --bundle on an empty directory: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(c.home, "other")); !os.IsNotExist(err) {
		t.Errorf("a refused up --bundle wrote state: %v", err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Writing into a directory that is not a labsbx bundle is the guard's refusal (exit 3).
	if r := c.run("bundle", "save", foreign, "--profile", "vault"); r.code != 3 || !strings.Contains(r.stderr, "refused: ") || !strings.Contains(r.stderr, "not empty") {
		t.Errorf("bundle save into a foreign directory: exit %d\n%s", r.code, r.stderr)
	}

	c.ok("down", "--name", name)
	assertNoLabelled(t, name)
}

func dockerCLI(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
