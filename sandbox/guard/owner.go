package guard

import "fmt"

// Ownership is what its labels say of a Docker object (a container, volume, network
// or k3d node) with respect to one sandbox.
type Ownership int

const (
	// NotOurs: no labsbx labels, or another sandbox's name or UUID.
	NotOurs Ownership = iota
	// Ours: the object carries this sandbox's UUID (and, if it has one, its name).
	Ours
	// Unclaimed: this sandbox's name and no UUID at all. labsbx labels every object
	// with the UUID, so only an old or hand-made object looks like this.
	Unclaimed
	// OtherUUID: this sandbox's name with another UUID: the same-named sandbox of
	// another state root (LABSBX_HOME, XDG_STATE_HOME), or one whose state was lost.
	OtherUUID
)

// Owner is the one ownership rule for Docker objects. name and uuid are the sandbox's;
// uuid is "" when no state records one (then nothing is Ours).
func Owner(labels map[string]string, name, uuid string) Ownership {
	u, hasU := labels[LabelUUID]
	n, hasN := labels[LabelSandbox]
	switch {
	case uuid != "" && hasU && u == uuid && (!hasN || n == name):
		return Ours
	case hasN && n == name && !hasU:
		return Unclaimed
	case hasN && n == name:
		return OtherUUID
	}
	return NotOurs
}

// ApproveRemoval decides whether the sandbox (name, and uuid from its state, "" when
// there is none) may remove a Docker object with these labels: only one that carries
// its UUID; without state, only one that carries its name and no UUID at all. kind and
// object name the object for the refusal.
func ApproveRemoval(kind, object string, labels map[string]string, name, uuid string) error {
	_, err := JudgeRemoval(kind, object, labels, name, uuid)
	return err
}

// JudgeRemoval is ApproveRemoval that also says, for an object it approves, why it is
// judged the sandbox's (what `down --dry-run` prints).
func JudgeRemoval(kind, object string, labels map[string]string, name, uuid string) (why string, err error) {
	switch Owner(labels, name, uuid) {
	case Ours:
		return fmt.Sprintf("carries sandbox %q's UUID %s (label %s)", name, uuid, LabelUUID), nil
	case Unclaimed:
		if uuid == "" {
			return fmt.Sprintf("carries sandbox %q's name and no UUID at all, and no state records one", name), nil
		}
		return "", refusef("%s %s carries sandbox %q's name but no UUID, not this sandbox's %s", kind, object, name, uuid)
	case OtherUUID:
		return "", refusef("%s %s belongs to sandbox %q with UUID %s, which this state does not record%s", kind, object, name, labels[LabelUUID], otherHint(name, uuid, labels[LabelUUID]))
	}
	return "", refusef("%s %s does not carry sandbox %q's labels", kind, object, name)
}

// otherHint says what an object of another UUID is. Which state root owns it, and
// how to remove it there, is down's to say: it looks for the owner.
func otherHint(string, string, string) string {
	return " (a same-named sandbox of another state root, or one whose state was lost)"
}

// k3d's names and labels, as k3d v5 makes them (pkg/types: DefaultObjectNamePrefix,
// DefaultRuntimeLabels, LabelClusterName, LabelRole; pkg/client: ClusterPrepNetwork,
// ClusterPrepImageVolume, runToolsNode). The guard reads them only to recognise k3d's
// tools container; sandbox/cluster/k3d tests that they match the library it builds with.
const (
	K3dLabelApp     = "app"         // "k3d" on every object k3d makes
	K3dLabelCluster = "k3d.cluster" // the cluster name, on every container of a cluster and on its image volume
	K3dLabelRole    = "k3d.role"    // server, agent, loadbalancer, registry, or noRole (the tools container)
)

// ClusterName is the k3d cluster of sandbox name: labsbx-<name>.
func ClusterName(name string) string { return "labsbx-" + name }

// K3dNetworkName is the network k3d puts cluster labsbx-<name>'s containers on.
func K3dNetworkName(name string) string { return "k3d-" + ClusterName(name) }

// K3dImageVolumeName is cluster labsbx-<name>'s image volume, which k3d mounts into
// every node and into the tools container.
func K3dImageVolumeName(name string) string { return "k3d-" + ClusterName(name) + "-images" }

// K3dToolsName is cluster labsbx-<name>'s tools container.
func K3dToolsName(name string) string { return "k3d-" + ClusterName(name) + "-tools" }

// ClusterNode is one container of a k3d cluster, as the Docker engine shows it. (k3d's
// own node structs, from ClusterGet, keep only the k3d.* labels of a container: they
// can prove nothing.)
type ClusterNode struct {
	Name    string
	Labels  map[string]string // all of the container's labels
	Volumes []string          // the named volumes it mounts
}

// ClusterObject is a network or volume, as the Docker engine shows it.
type ClusterObject struct {
	Name   string
	Labels map[string]string
}

// ClusterView is what the Docker engine shows of sandbox name's k3d cluster: every
// container labelled k3d.cluster=labsbx-<name>, the network K3dNetworkName and the
// image volume K3dImageVolumeName (nil when absent).
type ClusterView struct {
	Nodes       []ClusterNode
	Network     *ClusterObject
	ImageVolume *ClusterObject
}

// Empty reports whether the engine shows nothing of the cluster.
func (v ClusterView) Empty() bool {
	return len(v.Nodes) == 0 && v.Network == nil && v.ImageVolume == nil
}

// ApproveCluster decides whether the k3d cluster of sandbox name, as the engine shows
// it, is the sandbox's (uuid from its state), to use or to remove: every container,
// the network and the image volume carry the UUID, except k3d's tools container, which
// no cluster config can label and which is proven by what it mounts (clusterChecks).
// This holds as well for what a failed create leaves: a tools container alone, a
// network, a volume.
func ApproveCluster(name string, v ClusterView, uuid string) error {
	r := &clusterRun{name: name, uuid: uuid, v: v}
	rep := Report{Approved: true}
	return runSteps(&rep, "k3d cluster "+ClusterName(name), clusterChecks, r)
}

type clusterRun struct {
	name, uuid string
	v          ClusterView
	mine       int // objects that carry the UUID
}

func (r *clusterRun) record() (string, error) {
	if !validName(r.name) {
		return "", refusef("k3d cluster of sandbox %q: not a sandbox name", r.name)
	}
	if r.uuid == "" {
		return "", refusef("k3d cluster %s: no sandbox UUID is recorded to prove it ours", ClusterName(r.name))
	}
	return "sandbox " + r.name + ", UUID " + r.uuid, nil
}

// carries checks that an object carries this sandbox's UUID.
func (r *clusterRun) carries(kind string, o *ClusterObject, want string) (string, error) {
	if o == nil {
		return "no " + kind + " " + want, nil
	}
	if o.Name != want {
		return "", refusef("k3d cluster %s: %s %s is not its %s %s", ClusterName(r.name), kind, o.Name, kind, want)
	}
	if Owner(o.Labels, r.name, r.uuid) != Ours {
		return "", refusef("%s %s of k3d cluster %s does not carry this sandbox's UUID %s (label %s=%q)", kind, o.Name, ClusterName(r.name), r.uuid, LabelUUID, o.Labels[LabelUUID])
	}
	r.mine++
	return kind + " " + o.Name + " carries the UUID", nil
}

func (r *clusterRun) network() (string, error) {
	return r.carries("network", r.v.Network, K3dNetworkName(r.name))
}

func (r *clusterRun) imageVolume() (string, error) {
	return r.carries("volume", r.v.ImageVolume, K3dImageVolumeName(r.name))
}

func (r *clusterRun) nodes() (string, error) {
	tools := ""
	for _, n := range r.v.Nodes {
		if _, ok := n.Labels[LabelUUID]; ok {
			if Owner(n.Labels, r.name, r.uuid) != Ours {
				return "", refusef("container %s of k3d cluster %s is not this sandbox's (label %s=%q, want %s)", n.Name, ClusterName(r.name), LabelUUID, n.Labels[LabelUUID], r.uuid)
			}
			r.mine++
			continue
		}
		if err := r.tools(n); err != nil {
			return "", err
		}
		tools = "; " + n.Name + " is its tools container, mounting the image volume"
	}
	return fmt.Sprintf("%d containers%s", len(r.v.Nodes), tools), nil
}

// tools proves that a container without the UUID is k3d's tools container of this
// sandbox's cluster. k3d labels it itself (app=k3d, k3d.cluster, k3d.role=noRole) and
// takes none of the config's labels, so its name and labels only say which cluster it
// claims; the proof is that it mounts the cluster's image volume, which carries the
// UUID. Docker removes no volume that a container, even a stopped one, mounts. A
// network proves nothing here: Docker removes a network that only stopped containers
// name, and a never-started container's endpoint has no network ID.
func (r *clusterRun) tools(n ClusterNode) error {
	cluster, want, vol := ClusterName(r.name), K3dToolsName(r.name), K3dImageVolumeName(r.name)
	if n.Name != want {
		return refusef("container %s of k3d cluster %s does not carry this sandbox's UUID (only k3d's tools container %s may lack it, with proof)", n.Name, cluster, want)
	}
	if n.Labels[K3dLabelCluster] != cluster || n.Labels[K3dLabelApp] != "k3d" || n.Labels[K3dLabelRole] != "noRole" {
		return refusef("container %s has the name of k3d's tools container but not k3d's labels of cluster %s (%s=%q, %s=%q, %s=%q)", n.Name, cluster,
			K3dLabelCluster, n.Labels[K3dLabelCluster], K3dLabelApp, n.Labels[K3dLabelApp], K3dLabelRole, n.Labels[K3dLabelRole])
	}
	if _, ok := n.Labels[LabelSandbox]; ok {
		return refusef("container %s carries label %s but no UUID: labsbx made no such tools container", n.Name, LabelSandbox)
	}
	mounts := false
	for _, v := range n.Volumes {
		mounts = mounts || v == vol
	}
	if !mounts || r.v.ImageVolume == nil || r.v.ImageVolume.Name != vol || Owner(r.v.ImageVolume.Labels, r.name, r.uuid) != Ours {
		return refusef("container %s has the name and labels of k3d's tools container of cluster %s, but does not mount image volume %s carrying this sandbox's UUID %s: a name and labels alone prove nothing", n.Name, cluster, vol, r.uuid)
	}
	return nil
}

func (r *clusterRun) proof() (string, error) {
	if r.mine == 0 {
		return "", refusef("nothing of k3d cluster %s carries this sandbox's UUID %s", ClusterName(r.name), r.uuid)
	}
	return fmt.Sprintf("%d objects carry the UUID", r.mine), nil
}
