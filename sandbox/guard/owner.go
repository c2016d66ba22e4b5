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
	switch Owner(labels, name, uuid) {
	case Ours:
		return nil
	case Unclaimed:
		if uuid == "" {
			return nil
		}
		return refusef("%s %s carries sandbox %q's name but no UUID, not this sandbox's %s", kind, object, name, uuid)
	case OtherUUID:
		return refusef("%s %s belongs to sandbox %q with UUID %s, which this state does not record%s", kind, object, name, labels[LabelUUID], otherHint(name, uuid, labels[LabelUUID]))
	}
	return refusef("%s %s does not carry sandbox %q's labels", kind, object, name)
}

func otherHint(name, uuid, other string) string {
	if uuid != "" {
		return " (a same-named sandbox of another state root)"
	}
	return fmt.Sprintf("; if it is yours (its state is lost), remove it on purpose with `labsbx down --name %s --uuid %s`", name, other)
}

// ClusterNode is one container of a k3d cluster, as k3d lists it.
type ClusterNode struct {
	Name   string
	Role   string // k3d's role: server, agent, loadbalancer, registry, noRole
	Labels map[string]string
}

// ApproveCluster decides whether the k3d cluster made of nodes is the sandbox's (uuid
// from its state): every server and agent node carries the UUID. Without any (what an
// interrupted create or delete leaves: a load balancer, a tools container), it is the
// sandbox's when some node carries the UUID and none carries another.
func ApproveCluster(cluster string, nodes []ClusterNode, uuid string) error {
	if uuid == "" {
		return refusef("k3d cluster %s: no sandbox UUID is recorded to prove it ours", cluster)
	}
	k8sNodes, mine := 0, 0
	for _, n := range nodes {
		v, ok := n.Labels[LabelUUID]
		isK8s := n.Role == "server" || n.Role == "agent"
		if isK8s {
			k8sNodes++
		}
		switch {
		case ok && v == uuid:
			mine++
		case ok || isK8s:
			return refusef("k3d cluster %s: node %s is not this sandbox's (label %s=%q, want %s)", cluster, n.Name, LabelUUID, v, uuid)
		}
	}
	if mine == 0 {
		return refusef("k3d cluster %s has no node that carries this sandbox's UUID %s", cluster, uuid)
	}
	return nil
}
