package k3d

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// What k3d v5.8.3 labels, and what a cluster config can add (pkg/client/cluster.go,
// tools.go, node.go; pkg/runtimes/docker/network.go, volume.go, translate.go):
//
//   - server, agent and load balancer containers: k3d's labels (app=k3d, k3d.cluster,
//     k3d.role, …), the config's GlobalLabels and each node's RuntimeLabels. labsbx puts
//     the UUID in the RuntimeLabels (Config).
//   - the tools container k3d-<cluster>-tools (runToolsNode): app=k3d, k3d.version,
//     k3d.cluster, k3d.role=noRole, and nothing from the config. It mounts the image
//     volume and the Docker socket, on the cluster network.
//   - the network k3d-<cluster> (CreateNetworkIfNotPresent): app=k3d only; k3d reuses
//     a network of that name if one exists, and then leaves it when deleting the cluster.
//   - the image volume k3d-<cluster>-images (ClusterPrepImageVolume): app=k3d,
//     k3d.version, k3d.cluster. k3d always asks to create it; Docker answers a create of
//     an existing volume with that volume, its labels unchanged.
//
// So labsbx makes the network and the image volume itself, with the UUID, before
// ClusterRun (prepare), and k3d uses them. The tools container is the one object that
// stays without the UUID: the guard proves it by the image volume it mounts.
//
// k3d's own node structs (ClusterGet) keep only the k3d.* labels of a container, so
// ownership is read here from the engine, never from them.

// engine is the part of the Docker Engine API that the provider calls itself; k3d's
// runtime does the rest.
type engine interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, networkID string) error
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
	Close() error
}

var _ engine = (*client.Client)(nil)

// sandboxLabels are what labsbx puts on every k3d object it can label: the UUID marks
// them as this sandbox's. The name label is left off on purpose: `down` of the vault
// profile removes every object carrying it, and k3d's objects go through the guard's
// cluster rule (guard.ApproveCluster).
func sandboxLabels(uuid string) map[string]string {
	return map[string]string{guard.LabelUUID: uuid, guard.LabelComponent: "k3d"}
}

// objects is what the engine shows of a sandbox's k3d cluster, with what removing it
// needs.
type objects struct {
	view       guard.ClusterView
	containers []string // container IDs, as view.Nodes
	networkID  string
}

// kubeNodes counts the server and agent containers.
func (o objects) kubeNodes() int {
	n := 0
	for _, c := range o.view.Nodes {
		if r := c.Labels[guard.K3dLabelRole]; r == string(k3dtypes.ServerRole) || r == string(k3dtypes.AgentRole) {
			n++
		}
	}
	return n
}

// readObjects lists, with every label, the containers labelled k3d.cluster=labsbx-<name>,
// the network k3d-labsbx-<name> and the image volume k3d-labsbx-<name>-images.
func readObjects(ctx context.Context, eng engine, sandbox string) (objects, error) {
	var o objects
	cluster := guard.ClusterName(sandbox)
	cs, err := eng.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", guard.K3dLabelCluster+"="+cluster))})
	if err != nil {
		return o, fmt.Errorf("list the containers of k3d cluster %s: %w", cluster, err)
	}
	sort.Slice(cs, func(i, j int) bool { return containerName(cs[i]) < containerName(cs[j]) })
	for _, c := range cs {
		if c.Labels[guard.K3dLabelCluster] != cluster {
			continue
		}
		n := guard.ClusterNode{Name: containerName(c), Labels: c.Labels}
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume {
				n.Volumes = append(n.Volumes, m.Name)
			}
		}
		o.view.Nodes = append(o.view.Nodes, n)
		o.containers = append(o.containers, c.ID)
	}
	netName := guard.K3dNetworkName(sandbox)
	ns, err := eng.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", netName))})
	if err != nil {
		return o, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		if n.Name != netName {
			continue // the name filter matches substrings
		}
		if o.view.Network != nil {
			return o, fmt.Errorf("several Docker networks are named %s; remove those that are not this sandbox's (label %s) by hand", netName, guard.LabelUUID)
		}
		o.view.Network = &guard.ClusterObject{Name: n.Name, Labels: n.Labels}
		o.networkID = n.ID
	}
	volName := guard.K3dImageVolumeName(sandbox)
	vs, err := eng.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", volName))})
	if err != nil {
		return o, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		if v != nil && v.Name == volName {
			o.view.ImageVolume = &guard.ClusterObject{Name: v.Name, Labels: v.Labels}
		}
	}
	return o, nil
}

func containerName(c container.Summary) string {
	if len(c.Names) == 0 {
		return c.ID
	}
	n := c.Names[0]
	if len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	return n
}

// removeObjects removes what the guard approved: the containers (with their anonymous
// volumes, as k3d does), then the network, then the image volume. The volume goes
// last: it is the tools container's proof, and Docker keeps it while any container
// mounts it, so a run that stops half-way can be resumed.
func removeObjects(ctx context.Context, eng engine, o objects) error {
	var errs []error
	for i, id := range o.containers {
		if err := eng.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", o.view.Nodes[i].Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if o.view.Network != nil {
		if err := eng.NetworkRemove(ctx, o.networkID); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove network %s: %w", o.view.Network.Name, err)
		}
	}
	if o.view.ImageVolume != nil {
		if err := eng.VolumeRemove(ctx, o.view.ImageVolume.Name, false); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove volume %s: %w", o.view.ImageVolume.Name, err)
		}
	}
	return nil
}

// prepare makes the cluster's network and image volume, carrying the UUID, for k3d to
// use (see the top of this file). One of those names that exists and is not this
// sandbox's stops the create: k3d would use it.
func prepare(ctx context.Context, eng engine, sandbox, uuid string) error {
	o, err := readObjects(ctx, eng, sandbox)
	if err != nil {
		return err
	}
	cluster := guard.ClusterName(sandbox)
	labels := func(extra map[string]string) map[string]string {
		l := sandboxLabels(uuid)
		for k, v := range k3dtypes.DefaultRuntimeLabels {
			l[k] = v
		}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	ours := func(l map[string]string) bool { return guard.Owner(l, sandbox, uuid) == guard.Ours }
	netName := guard.K3dNetworkName(sandbox)
	switch {
	case o.view.Network == nil:
		// As k3d's CreateNetworkIfNotPresent makes it, with the UUID.
		if _, err := eng.NetworkCreate(ctx, netName, network.CreateOptions{
			Driver:  "bridge",
			Options: map[string]string{"com.docker.network.bridge.enable_ip_masquerade": "true"},
			Labels:  labels(nil),
		}); err != nil {
			return fmt.Errorf("create network %s for k3d cluster %s: %w", netName, cluster, err)
		}
	case !ours(o.view.Network.Labels):
		return fmt.Errorf("a Docker network named %s exists but is not sandbox %q's (label %s=%q); k3d would put the cluster on it: remove it or pick another --name",
			netName, sandbox, guard.LabelUUID, o.view.Network.Labels[guard.LabelUUID])
	}
	volName := guard.K3dImageVolumeName(sandbox)
	if o.view.ImageVolume != nil && !ours(o.view.ImageVolume.Labels) {
		return fmt.Errorf("a Docker volume named %s exists but is not sandbox %q's (label %s=%q); k3d would mount it into the cluster: remove it or pick another --name",
			volName, sandbox, guard.LabelUUID, o.view.ImageVolume.Labels[guard.LabelUUID])
	}
	if o.view.ImageVolume == nil {
		// As k3d's ClusterPrepImageVolume makes it, with the UUID.
		extra := map[string]string{k3dtypes.LabelClusterName: cluster}
		for k, v := range k3dtypes.DefaultRuntimeLabelsVar {
			extra[k] = v
		}
		v, err := eng.VolumeCreate(ctx, volume.CreateOptions{Name: volName, Driver: "local", Labels: labels(extra)})
		if err != nil {
			return fmt.Errorf("create volume %s for k3d cluster %s: %w", volName, cluster, err)
		}
		if !ours(v.Labels) { // made by someone else since readObjects
			return fmt.Errorf("a Docker volume named %s appeared meanwhile and is not sandbox %q's; remove it or pick another --name", volName, sandbox)
		}
	}
	return nil
}

// toolsWait bounds how long a failed create waits for k3d's tools container;
// toolsGrace is how long it first gives k3d's goroutine to begin.
const (
	toolsWait  = 2 * time.Minute
	toolsGrace = 250 * time.Millisecond
)

// waitToolsNode waits, for at most limit, until no goroutine of k3d is making a tools
// container. ClusterRun makes it in a goroutine and, when creating the nodes fails,
// returns without waiting for it; the cleanup after a failed create would then miss
// it. k3d holds EnsureToolsNodeMutex while making it. A goroutine that has not taken
// the mutex after grace is not waited for: what it leaves, the next up or down
// removes (the guard proves the tools container by the image volume it mounts).
func waitToolsNode(grace, limit time.Duration) {
	time.Sleep(grace)
	deadline := time.Now().Add(limit)
	for !k3dclient.EnsureToolsNodeMutex.TryLock() {
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	k3dclient.EnsureToolsNodeMutex.Unlock()
}
