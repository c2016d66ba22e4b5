package k3d

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/docker/docker/api/types"
	containertypes "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImportMode is how images get from the Docker engine into the cluster's nodes.
type ImportMode string

const (
	// ImportK3dDirect is k3d's direct mode: one `docker save` of the images streamed
	// into `ctr image import --all-platforms -` in every node. It works on Docker's
	// classic image store (a graph driver such as overlay2), whose archive holds the
	// one platform the engine has.
	ImportK3dDirect ImportMode = "k3d-direct"
	// ImportNodePlatform streams `docker save` into `ctr -n k8s.io images import -`
	// in every node, without --all-platforms, so that each node imports its own
	// platform only; where the engine can (API 1.48, Docker 28), it also saves only
	// that platform.
	ImportNodePlatform ImportMode = "node-platform"
)

// ImportPlan is how ImportImages brings images into the nodes, and why.
type ImportPlan struct {
	Mode ImportMode
	// Platform is the one platform to save (the nodes'); nil saves what the engine
	// saves by default.
	Platform *ocispec.Platform
	Why      string
}

// containerdSnapshotter is the driver-type Docker reports in `docker info` when its
// images live in containerd's store rather than in a graph driver.
const containerdSnapshotter = "io.containerd.snapshotter.v1"

// saveByPlatformAPI is the first Docker API that accepts a platform on image save.
const saveByPlatformAPI = "1.48"

// PlanImport decides, from the engine's `docker info` and version, how to import.
//
// On Docker's containerd image store (the default for new installs of Docker Engine
// 29 and for Docker Desktop), `docker save` writes an image's whole OCI index, every
// platform its registry offered, but only the content of the platforms the engine
// pulled, usually one. k3d 5.8.3 imports with `ctr image import --all-platforms`, in
// both its direct and its tools-node mode, so ctr asks for every platform's content
// and fails with "content digest … not found" (k3d-io/k3d#1538). Without
// --all-platforms ctr imports the node's own platform only, which is the engine's
// (k3d's nodes are containers on this engine), and whose content the archive holds.
// Saving only that platform, where the API allows it, keeps the archive to what is
// imported. The classic store keeps k3d's direct mode, which is known to work there.
func PlanImport(info system.Info, ver types.Version) ImportPlan {
	store := ""
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" {
			store = kv[1]
		}
	}
	switch {
	case store == containerdSnapshotter:
	case store == "" && snapshotterOnly(info.Driver):
		store = "snapshotter " + info.Driver
	default:
		return ImportPlan{Mode: ImportK3dDirect,
			Why: fmt.Sprintf("Docker's classic image store (storage driver %s): k3d's direct import", info.Driver)}
	}
	p := ImportPlan{Mode: ImportNodePlatform}
	os, arch := ver.Os, ver.Arch
	if os == "" {
		os = info.OSType
	}
	if arch == "" {
		arch = normaliseArch(info.Architecture)
	}
	if os != "" && arch != "" && versions.GreaterThanOrEqualTo(ver.APIVersion, saveByPlatformAPI) {
		p.Platform = &ocispec.Platform{OS: os, Architecture: arch}
		p.Why = fmt.Sprintf("containerd image store (%s): saving %s/%s only and importing it without --all-platforms", store, os, arch)
	} else {
		p.Why = fmt.Sprintf("containerd image store (%s), engine API %s (a platform on save needs %s): importing the nodes' platform only, without --all-platforms",
			store, ver.APIVersion, saveByPlatformAPI)
	}
	return p
}

// snapshotterOnly reports storage driver names that only containerd snapshotters use
// (the graph drivers are overlay2, fuse-overlayfs, btrfs, zfs, vfs, …), for an engine
// that does not say driver-type.
func snapshotterOnly(driver string) bool {
	switch driver {
	case "overlayfs", "stargz", "native":
		return true
	}
	return false
}

// normaliseArch turns uname's machine names, which `docker info` reports, into the
// OCI ones.
func normaliseArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// ctrImport is run in a node: containerd's CLI in k3s, into the namespace the kubelet
// uses, reading the archive from stdin, for the node's platform only.
var ctrImport = []string{"ctr", "-n", "k8s.io", "images", "import", "-"}

// importNodePlatform streams one `docker save` of refs per node into that node's
// ctrImport. One save per node keeps each stream simple; the full profile has one
// node by default.
func importNodePlatform(ctx context.Context, cli *client.Client, nodes, refs []string, platform *ocispec.Platform) error {
	for _, node := range nodes {
		var opts []client.ImageSaveOption
		if platform != nil {
			opts = append(opts, client.ImageSaveWithPlatforms(*platform))
		}
		archive, err := cli.ImageSave(ctx, refs, opts...)
		if err != nil {
			return fmt.Errorf("docker save %s: %w", strings.Join(refs, " "), err)
		}
		err = execWithStdin(ctx, cli, node, ctrImport, archive)
		_ = archive.Close()
		if err != nil {
			return fmt.Errorf("import %s into node %s: %w", strings.Join(refs, " "), node, err)
		}
	}
	return nil
}

// ExecError is a command that ran in a container and failed.
type ExecError struct {
	Container string
	Cmd       []string
	ExitCode  int
	Output    string // its last bytes
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("%s in %s: exit status %d: %s", strings.Join(e.Cmd, " "), e.Container, e.ExitCode, strings.TrimSpace(e.Output))
}

// execOutputMax is how much of an exec's output an ExecError keeps.
const execOutputMax = 4096

// execWithStdin runs cmd in container with stdin fed from r, as `docker exec -i`
// does, and waits for it to exit.
func execWithStdin(ctx context.Context, cli *client.Client, container string, cmd []string, r io.Reader) error {
	ex, err := cli.ContainerExecCreate(ctx, container, containertypes.ExecOptions{
		Cmd: cmd, AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("create exec of %q in %s: %w", strings.Join(cmd, " "), container, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, containertypes.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("attach to exec of %q in %s: %w", strings.Join(cmd, " "), container, err)
	}
	defer att.Close()
	// The hijacked connection does not follow ctx: close it on cancellation.
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	// The input's own read errors (a failing `docker save`) always count; a write
	// error only matters if the command then fails (it may stop reading at the
	// archive's end and exit 0 before the stream's last padding).
	src := &readErrs{r: r}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		_, _ = io.Copy(att.Conn, src)
		_ = att.CloseWrite()
	}()
	out := &tailBuffer{max: execOutputMax}
	_, readErr := stdcopy.StdCopy(out, out, att.Reader)
	att.Close() // the command is done with its streams: unblock a copy it did not read
	<-fed

	err = wait.Poll(ctx, wait.Options{Interval: 50 * time.Millisecond}, func(ctx context.Context) error {
		insp, err := cli.ContainerExecInspect(ctx, ex.ID)
		switch {
		case err != nil:
			return wait.Permanent(fmt.Errorf("inspect exec of %q in %s: %w", strings.Join(cmd, " "), container, err))
		case insp.Running:
			return errors.New("still running")
		case insp.ExitCode != 0:
			return wait.Permanent(&ExecError{Container: container, Cmd: cmd, ExitCode: insp.ExitCode, Output: out.String()})
		}
		return nil
	})
	if err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			return ee
		}
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if src.err != nil {
		return fmt.Errorf("reading what to feed %q in %s: %w", strings.Join(cmd, " "), container, src.err)
	}
	if readErr != nil {
		return fmt.Errorf("output of %q in %s: %w", strings.Join(cmd, " "), container, readErr)
	}
	return nil
}

// readErrs remembers the first read error other than io.EOF.
type readErrs struct {
	r   io.Reader
	err error
}

func (e *readErrs) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return n, nil
}

func (t *tailBuffer) String() string { return t.b.String() }
