package k3d

import (
	"errors"
	"testing"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// TestOwned: a cluster is the sandbox's when its servers and agents all carry the
// UUID; what an interrupted create leaves (no server or agent) is, when a node carries
// the UUID and none another.
func TestOwned(t *testing.T) {
	const uuid = "8d0c4f0e-3a57-4d7e-9a43-2b1f0c6d9e21"
	node := func(role k3dtypes.Role, id string) *k3dtypes.Node {
		n := &k3dtypes.Node{Name: "k3d-labsbx-demo-" + string(role), Role: role, RuntimeLabels: map[string]string{}}
		if id != "" {
			n.RuntimeLabels[guard.LabelUUID] = id
		}
		return n
	}
	for _, c := range []struct {
		name  string
		nodes []*k3dtypes.Node
		ok    bool
	}{
		{"servers and agents", []*k3dtypes.Node{node(k3dtypes.ServerRole, uuid), node(k3dtypes.AgentRole, uuid), node(k3dtypes.LoadBalancerRole, "")}, true},
		{"a server of another sandbox", []*k3dtypes.Node{node(k3dtypes.ServerRole, uuid), node(k3dtypes.ServerRole, "other")}, false},
		{"a server without the label", []*k3dtypes.Node{node(k3dtypes.ServerRole, "")}, false},
		{"a leftover load balancer", []*k3dtypes.Node{node(k3dtypes.LoadBalancerRole, uuid), node(k3dtypes.NoRole, "")}, true},
		{"another sandbox's leftover", []*k3dtypes.Node{node(k3dtypes.LoadBalancerRole, "other")}, false},
		{"a leftover without labels", []*k3dtypes.Node{node(k3dtypes.NoRole, "")}, false},
	} {
		err := owned(&k3dtypes.Cluster{Name: "labsbx-demo", Nodes: c.nodes}, uuid)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, guard.ErrRefused)) {
			t.Errorf("%s: owned = %v, want ok %v", c.name, err, c.ok)
		}
	}
	if err := owned(&k3dtypes.Cluster{Nodes: []*k3dtypes.Node{node(k3dtypes.ServerRole, "")}}, ""); err == nil {
		t.Error("a cluster was owned by an empty UUID")
	}
}
