// Package k3d drives the k3d Go library for the full profile: the cluster config of a
// sandbox (pure, golden-tested), and Create, Exists, Delete and Kubeconfig against the
// local Docker engine.
package k3d

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/docker/go-connections/nat"
	"github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/config/types"
	"github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// Config is the k3d cluster config of a sandbox, what `k3d cluster create` builds
// from its flags (config.TransformSimpleToClusterConfig), made here directly from the
// k3d types and pkg/client helpers. Building it contacts nothing: the load balancer
// and port helpers only fill structs.
func Config(ctx context.Context, o cluster.Options) (*v1alpha5.ClusterConfig, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	name := cluster.Name(o.Sandbox)
	if err := client.CheckName(name); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	// The UUID marks the nodes as this sandbox's (guard.ApproveCluster checks it).
	labels := func() map[string]string { return sandboxLabels(o.UUID) }
	api := &k3dtypes.ExposureOpts{Host: "127.0.0.1"}
	api.Port = k3dtypes.DefaultAPIPort
	api.Binding = nat.PortBinding{HostIP: "127.0.0.1", HostPort: strconv.Itoa(o.APIPort)}
	c := k3dtypes.Cluster{
		Name:    name,
		Network: k3dtypes.ClusterNetwork{Name: guard.K3dNetworkName(o.Sandbox)}, // made by labsbx with the UUID (prepare)
		KubeAPI: api,
		Nodes:   []*k3dtypes.Node{},
	}
	rt := runtimes.Docker // not contacted by the helpers below
	if o.WithLoadBalancer() {
		c.ServerLoadBalancer = k3dtypes.NewLoadbalancer()
		lb, err := client.LoadbalancerPrepare(ctx, rt, &c, &k3dtypes.LoadbalancerCreateOpts{})
		if err != nil {
			return nil, fmt.Errorf("cluster config: load balancer: %w", err)
		}
		lb.RuntimeLabels = labels()
		lb.Image = o.Helpers.LoadBalancerImage() // k3d's own choice reads the environment
		c.ServerLoadBalancer.Node = lb
		c.Nodes = append(c.Nodes, lb)
	}
	apiPort := k3dtypes.DefaultAPIPort + ".tcp"
	for i := range o.Servers {
		n := &k3dtypes.Node{
			Name:          client.GenerateNodeName(name, k3dtypes.ServerRole, i),
			Role:          k3dtypes.ServerRole,
			Image:         o.Image,
			Args:          cluster.K3sArgs(),
			RuntimeLabels: labels(),
		}
		// Several servers without an external datastore: the first one initialises.
		if i == 0 && o.Servers > 1 {
			n.ServerOpts.IsInit = true
			c.InitNode = n
		}
		c.Nodes = append(c.Nodes, n)
		if c.ServerLoadBalancer != nil {
			c.ServerLoadBalancer.Config.Ports[apiPort] = append(c.ServerLoadBalancer.Config.Ports[apiPort], n.Name)
		}
	}
	for i := range o.Agents {
		c.Nodes = append(c.Nodes, &k3dtypes.Node{
			Name:          client.GenerateNodeName(name, k3dtypes.AgentRole, i),
			Role:          k3dtypes.AgentRole,
			Image:         o.Image,
			Args:          cluster.KubeletArgs(),
			RuntimeLabels: labels(),
		})
	}
	// NodePorts answer on every node; the first server publishes them itself, not
	// through the load balancer.
	direct := []string{"server:0:direct"}
	if err := client.TransformPorts(ctx, rt, &c, []v1alpha5.PortWithNodeFilters{
		{Port: fmt.Sprintf("127.0.0.1:%d:%d/tcp", o.VaultPort, cluster.VaultNodePort), NodeFilters: direct},
		{Port: fmt.Sprintf("127.0.0.1:%d:%d/tcp", o.PostgresPort, cluster.PostgresNodePort), NodeFilters: direct},
	}); err != nil {
		return nil, fmt.Errorf("cluster config: ports: %w", err)
	}
	opts := k3dtypes.ClusterCreateOpts{
		WaitForServer:       true,
		Timeout:             3 * time.Minute,
		DisableLoadBalancer: !o.WithLoadBalancer(),
		GlobalLabels:        map[string]string{},
		GlobalEnv:           []string{},
	}
	for k, v := range k3dtypes.DefaultRuntimeLabels {
		opts.GlobalLabels[k] = v
	}
	return &v1alpha5.ClusterConfig{
		TypeMeta:          types.TypeMeta{APIVersion: v1alpha5.ApiVersion, Kind: "Cluster"},
		Cluster:           c,
		ClusterCreateOpts: opts,
		// Never ~/.kube/config, never the current context: labsbx writes the kubeconfig
		// into the sandbox state (and merges it only on --merge-kubeconfig).
		KubeconfigOpts: v1alpha5.SimpleConfigOptionsKubeconfig{UpdateDefaultKubeconfig: false, SwitchCurrentContext: false},
	}, nil
}

// pinHelperImages names k3d's helper images. k3d reads them from its environment
// variables, else builds them from a package variable that a library build leaves empty
// (":latest"), in every call that may start its tools container: create, start and
// image import alike. So every provider sets them from the sandbox's spec, and the
// caller's K3D_IMAGE_* never steers them.
func pinHelperImages(h cluster.Helpers) {
	pinMu.Lock()
	defer pinMu.Unlock()
	_ = os.Setenv(k3dtypes.K3dEnvImageTools, h.ToolsImage())
	_ = os.Setenv(k3dtypes.K3dEnvImageLoadbalancer, h.LoadBalancerImage())
}

var pinMu sync.Mutex
