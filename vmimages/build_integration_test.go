package vmimages

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// TestIntegrationBuildImage builds the default recipe into the real cache (the
// vmimage task builds it first, so in CI this finds it warm) and checks what it made:
// a qcow2 disk of the recipe's size, an arm64 kernel and an initrd.
func TestIntegrationBuildImage(t *testing.T) {
	if err := LocalPrerequisites(); err != nil {
		testenv.Require(t, "a local VM image build: "+err.Error(), "go tool task vmimage")
	}
	root, err := CacheRoot(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b := &Builder{CacheRoot: root, Source: SourceLocal}
	res, err := b.Ensure(ctx, "debian-12-arm64", false)
	if err != nil {
		t.Fatal(err)
	}
	img := res.Image
	t.Logf("image %s (built now: %t, %s; first build took %.0fs)", img.Dir, res.Built, res.Duration.Round(time.Millisecond), img.BuildSeconds)
	r, _ := Load("debian-12-arm64")
	if img.Hash != r.Hash() || img.Dir != ImagesDir(root)+"/debian-12-arm64-"+r.Hash() {
		t.Errorf("image %s is not keyed by the recipe hash %s", img.Dir, r.Hash())
	}
	out, err := exec.Command("qemu-img", "info", "--output=json", img.Path(img.Disk)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"format": "qcow2"`)) || !bytes.Contains(out, []byte(`"virtual-size": 4294967296`)) {
		t.Errorf("qemu-img info:\n%s", out)
	}
	// An arm64 Linux Image has the magic "ARM\x64" at offset 0x38.
	k, err := os.ReadFile(img.Path(img.Kernel))
	if err != nil || len(k) < 0x40 || string(k[0x38:0x3c]) != "ARM\x64" {
		t.Errorf("kernel %s is not an arm64 Image (%v)", img.Path(img.Kernel), err)
	}
	if fi, err := os.Stat(img.Path(img.Initrd)); err != nil || fi.Size() < 1<<20 || fi.Size() > 64<<20 {
		t.Errorf("initrd: %v", err)
	}
	// Warm: a second Ensure finds it.
	again, err := b.Ensure(ctx, "debian-12-arm64", false)
	if err != nil || again.Built || again.Image.Dir != img.Dir {
		t.Errorf("second ensure: %+v %v", again, err)
	}
}
