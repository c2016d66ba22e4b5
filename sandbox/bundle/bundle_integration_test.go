package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// TestIntegrationBundleRoundTrip saves a real image from the local Docker engine into
// a bundle, removes it from the engine, and loads it back from the bundle.
func TestIntegrationBundleRoundTrip(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	appr, err := guard.ApproveDocker(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := docker.New(appr, "bundle-it", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	ref := tinyImage(t)
	want := []Want{{Component: "tiny", Ref: ref}}
	dir := t.TempDir()
	m, err := Save(ctx, rt, SaveOptions{Dir: approveDir(t, dir), Contents: Contents{Profile: "vault", Images: want}})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := rt.ImageID(ctx, ref)
	if err != nil || id != m.Images[0].ID {
		t.Fatalf("manifest ID %s, engine ID %s (%v)", m.Images[0].ID, id, err)
	}

	removeImage(t, ref)
	if _, ok, _ := rt.ImageID(ctx, ref); ok {
		t.Fatalf("%s still present after docker rmi", ref)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.LoadImages(ctx, rt, want)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Action != "loaded" {
		t.Fatalf("LoadImages = %+v", got)
	}
	if id, ok, _ := rt.ImageID(ctx, ref); !ok || id != m.Images[0].ID {
		t.Fatalf("after load: %s present=%v ID %s, want %s", ref, ok, id, m.Images[0].ID)
	}
	if got, err = b.LoadImages(ctx, rt, want); err != nil || got[0].Action != "present" {
		t.Fatalf("second LoadImages = %+v, %v", got, err)
	}

	// A damaged archive is refused, and the engine is not asked to load it.
	removeImage(t, ref)
	p := filepath.Join(dir, filepath.FromSlash(m.Images[0].File))
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), m.Images[0].Size/2); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if _, err := b.LoadImages(ctx, rt, want); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged archive: %v", err)
	}
	if _, ok, _ := rt.ImageID(ctx, ref); ok {
		t.Fatalf("%s was loaded from a damaged archive", ref)
	}
}

// tinyImage imports a one-file image under a unique local name and removes it at the
// end of the test.
func tinyImage(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("labsbx bundle test\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(body)
	_ = tw.Close()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ref := "labsbx.local/bundle-test:" + hex.EncodeToString(suffix)
	cmd := exec.Command("docker", "import", "-", ref)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() { removeImage(t, ref) })
	return ref
}

func removeImage(t *testing.T, ref string) {
	t.Helper()
	out, err := exec.Command("docker", "image", "rm", "-f", ref).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such image") {
		t.Fatalf("docker image rm %s: %v\n%s", ref, err, out)
	}
}
