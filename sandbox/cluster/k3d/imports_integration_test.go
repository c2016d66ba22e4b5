package k3d

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// TestIntegrationImportNodePlatform runs labsbx's own import path (the one PlanImport
// picks on Docker's containerd image store) against the real Docker engine: a real
// `docker save`, streamed through a real exec into a container standing in for a k3d
// node, whose ctr records what it was asked and read. What it cannot show here is
// containerd's import itself: no k3s image can be pulled, and this machine's engine
// (Debian's Docker 20.10) has no containerd image store to save from.
func TestIntegrationImportNodePlatform(t *testing.T) {
	testenv.RequireDocker(t)
	ctx := t.Context()
	appr, err := guard.ApproveDocker(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := appr.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ref, node := standInNode(t, cli)

	info, err := cli.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := PlanImport(info, ver)
	// Whatever this engine's store, save by platform where its API can, as
	// PlanImport does on the containerd store.
	var platform *ocispec.Platform
	if versions.GreaterThanOrEqualTo(ver.APIVersion, saveByPlatformAPI) {
		platform = &ocispec.Platform{OS: ver.Os, Architecture: ver.Arch}
	}
	t.Logf("this engine: %s (%s); testing the node-platform path, saving platform %v", plan.Mode, plan.Why, platform)

	if err := importNodePlatform(ctx, cli, []string{node}, []string{ref}, platform); err != nil {
		t.Fatalf("import: %v", err)
	}
	args := string(readFile(t, cli, node, "/tmp/ctr-args"))
	if got := strings.Split(args, "\n"); !slices.Equal(got, ctrImport[1:]) {
		t.Errorf("ctr ran with %q, want %q", got, ctrImport[1:])
	}
	// What ctr read is the `docker save` archive of the image.
	archive := tar.NewReader(bytes.NewReader(readFile(t, cli, node, "/tmp/ctr-stdin.tar")))
	var tags []string
	for {
		h, err := archive.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the archive ctr read: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		if err := json.NewDecoder(archive).Decode(&m); err != nil {
			t.Fatal(err)
		}
		for _, e := range m {
			tags = append(tags, e.RepoTags...)
		}
	}
	if !slices.Contains(tags, ref) {
		t.Errorf("the archive ctr read holds %v, want %s", tags, ref)
	}

	// ctr failing, as it does with --all-platforms on a containerd-store archive: the
	// error carries its exit status and output.
	putFile(t, cli, node, "fail", nil)
	err = importNodePlatform(ctx, cli, []string{node}, []string{ref}, platform)
	var ee *ExecError
	if !errors.As(err, &ee) || ee.ExitCode != 1 || !strings.Contains(err.Error(), "content digest") || !strings.Contains(err.Error(), node) {
		t.Errorf("a failing ctr: %v", err)
	}
	// An image the engine does not have: docker save fails, before any exec.
	if err := importNodePlatform(ctx, cli, []string{node}, []string{"labsbx.local/absent:none"}, nil); err == nil || !strings.Contains(err.Error(), "docker save") {
		t.Errorf("an absent image: %v", err)
	}
}

// standInNode builds a one-binary image (the ctr stand-in, static) and runs it as a
// node; both go away with the test. It returns the image ref and the container.
func standInNode(t *testing.T, cli *client.Client) (ref, node string) {
	t.Helper()
	ctx := t.Context()
	bin := filepath.Join(t.TempDir(), "ctr")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./testdata/ctrstandin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the ctr stand-in: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	for _, d := range []string{"bin/", "tmp/"} {
		_ = tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o1777})
	}
	_ = tw.WriteHeader(&tar.Header{Name: "bin/ctr", Mode: 0o755, Size: int64(len(exe))})
	_, _ = tw.Write(exe)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	ref = "labsbx.local/k3d-node-standin:test-" + hex.EncodeToString(id)
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: &rootfs, SourceName: "-"}, ref,
		image.ImportOptions{Changes: []string{`CMD ["/bin/ctr", "serve"]`}})
	if err != nil {
		t.Fatalf("docker import: %v", err)
	}
	_, _ = io.Copy(io.Discard, rc)
	_ = rc.Close()
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	name := "labsbx-test-node-" + hex.EncodeToString(id)
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: ref, Labels: map[string]string{"dev.labsbx.test": "k3d-import"}},
		nil, nil, nil, name)
	if err != nil {
		t.Fatalf("create the stand-in node: %v", err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start the stand-in node: %v", err)
	}
	return ref, name
}

// readFile reads one file out of a container.
func readFile(t *testing.T, cli *client.Client, node, path string) []byte {
	t.Helper()
	rc, _, err := cli.CopyFromContainer(t.Context(), node, path)
	if err != nil {
		t.Fatalf("read %s from %s: %v", path, node, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putFile writes one file into a container's root.
func putFile(t *testing.T, cli *client.Client, node, name string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now()})
	_, _ = tw.Write(data)
	_ = tw.Close()
	if err := cli.CopyToContainer(t.Context(), node, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
}
