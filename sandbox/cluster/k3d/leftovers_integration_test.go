package k3d

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/internal/netx"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// TestIntegrationFailedCreateLeavesNothing runs the provider's Create, with k3d's real
// ClusterRun and Docker runtime, on the real engine, with a k3s image that no registry
// serves: k3d makes the tools container (from a local stand-in image, named as the
// spec's toolsImage) on labsbx's network and image volume, fails to make the server,
// and Create removes all it made. A Delete then finds nothing.
func TestIntegrationFailedCreateLeavesNothing(t *testing.T) {
	testenv.RequireDocker(t)
	ctx := t.Context()
	cli, appr := realEngine(t)
	tools, _ := standInNode(t, cli)
	t.Setenv(k3dtypes.K3dEnvImageTools, "") // restored after the test: NewProvider sets it
	name, uuid := itSandbox(t, cli)
	ports, err := netx.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	p := NewProvider(appr, name, uuid, cluster.Helpers{Tools: tools})
	since := time.Now()
	err = p.Create(ctx, cluster.Options{Sandbox: name, UUID: uuid, Servers: 1, Image: "labsbx.local/k3s-absent:none",
		APIPort: ports[0], VaultPort: ports[1], PostgresPort: ports[2]})
	if err == nil || errors.Is(err, guard.ErrRefused) {
		t.Fatalf("Create = %v, want k3d's failure to get the k3s image", err)
	}
	t.Logf("Create failed as expected: %v", err)
	if left := engineObjects(t, cli, name); len(left) != 0 {
		t.Errorf("a failed create left %v", left)
	}
	// k3d did make the tools container, and the cleanup removed it.
	if n := destroyed(t, cli, since, guard.K3dToolsName(name)); n != 1 {
		t.Errorf("the engine destroyed container %s %d times, want once", guard.K3dToolsName(name), n)
	}
	if ok, err := p.Delete(ctx); ok || err != nil {
		t.Errorf("Delete after the cleanup = %v, %v; want nothing to do", ok, err)
	}
}

// TestIntegrationLeftoverToolsProof: on the real engine, a container named and labelled
// as k3d's tools container of the sandbox's cluster is removed only when it mounts the
// image volume that carries the sandbox UUID.
func TestIntegrationLeftoverToolsProof(t *testing.T) {
	testenv.RequireDocker(t)
	ctx := t.Context()
	cli, appr := realEngine(t)
	ref, _ := standInNode(t, cli)
	for _, tc := range []struct {
		name       string
		volumeUUID string // "" : a volume without labsbx labels
		ok         bool
	}{
		{"volume with the UUID", "ours", true},
		{"volume without it", "", false},
		{"volume of another UUID", otherUUID, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, uuid := itSandbox(t, cli)
			c := guard.ClusterName(name)
			labels := map[string]string{"app": "k3d", k3dtypes.LabelClusterName: c}
			switch tc.volumeUUID {
			case "ours":
				labels[guard.LabelUUID] = uuid
			case "":
			default:
				labels[guard.LabelUUID] = tc.volumeUUID
			}
			vol := guard.K3dImageVolumeName(name)
			if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: vol, Labels: labels}); err != nil {
				t.Fatal(err)
			}
			// As k3d's runToolsNode labels it.
			if _, err := cli.ContainerCreate(ctx, &container.Config{Image: ref, Labels: map[string]string{
				"app": "k3d", "k3d.version": "v" + cluster.K3dVersion, k3dtypes.LabelClusterName: c, k3dtypes.LabelRole: string(k3dtypes.NoRole)}},
				&container.HostConfig{Binds: []string{vol + ":" + k3dtypes.DefaultImageVolumeMountPath}}, nil, nil, guard.K3dToolsName(name)); err != nil {
				t.Fatal(err)
			}
			p := NewProvider(appr, name, uuid, cluster.Helpers{})
			ok, err := p.Delete(ctx)
			left := engineObjects(t, cli, name)
			switch {
			case tc.ok && (!ok || err != nil || len(left) != 0):
				t.Errorf("Delete = %v, %v; left %v: want the tools container and volume removed", ok, err, left)
			case !tc.ok && (!errors.Is(err, guard.ErrRefused) || len(left) != 2):
				t.Errorf("Delete = %v, %v; left %v: want a refusal, nothing removed", ok, err, left)
			}
		})
	}
}

// destroyed counts the engine's destroy events of container name since then.
func destroyed(t *testing.T, cli *client.Client, since time.Time, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	msgs, errs := cli.Events(ctx, events.ListOptions{
		Since:   strconv.FormatInt(since.Add(-time.Second).Unix(), 10),
		Until:   strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("event", "destroy"), filters.Arg("container", name)),
	})
	n := 0
	for {
		select {
		case m := <-msgs:
			if m.Actor.Attributes["name"] == name {
				n++
			}
		case err := <-errs:
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("docker events: %v", err)
			}
			return n
		}
	}
}

func realEngine(t *testing.T) (*client.Client, guard.DockerApproval) {
	t.Helper()
	appr, err := guard.ApproveDocker(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := appr.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli, appr
}

// itSandbox is a fresh sandbox name and UUID; whatever a failing test leaves of its
// cluster is removed afterwards.
func itSandbox(t *testing.T, cli *client.Client) (name, uuid string) {
	t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	name = "it" + h[:8]
	uuid = h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
	t.Cleanup(func() {
		ctx := context.Background()
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", k3dtypes.LabelClusterName+"="+guard.ClusterName(name)))})
		for _, c := range cs {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		_ = cli.NetworkRemove(ctx, guard.K3dNetworkName(name))
		_ = cli.VolumeRemove(ctx, guard.K3dImageVolumeName(name), true)
	})
	return name, uuid
}

// engineObjects lists what the engine holds of sandbox name's k3d cluster.
func engineObjects(t *testing.T, cli *client.Client, name string) []string {
	t.Helper()
	ctx := t.Context()
	var out []string
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", k3dtypes.LabelClusterName+"="+guard.ClusterName(name)))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		out = append(out, "container "+containerName(c))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", guard.K3dNetworkName(name)))})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", guard.K3dImageVolumeName(name)))})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		out = append(out, "volume "+v.Name)
	}
	return out
}
