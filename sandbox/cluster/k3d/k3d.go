package k3d

import (
	"context"
	"errors"
	"fmt"

	"github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// These functions drive the k3d library against the local Docker engine. They need a
// k3s image (and k3d's tools image), which the build machines cannot pull, so no test
// here exercises them whole; `go tool task e2e:full` does where the images exist. The
// parts that need no k3s are tested here: the import decision (PlanImport), labsbx's
// own import stream into a stand-in node, and the bound on a start.
//
// k3d's runtime reads DOCKER_HOST itself; the DockerApproval parameter makes every
// caller ask the guard first, which refuses any engine that is not local.

// Create runs the cluster (k3d's ClusterRun: network, image volume, tools node,
// nodes, start, wait for the server). It does not write any kubeconfig.
func Create(ctx context.Context, _ guard.DockerApproval, cfg *v1alpha5.ClusterConfig) error {
	if err := client.ClusterRun(ctx, runtimes.Docker, cfg); err != nil {
		return fmt.Errorf("create k3d cluster %s: %w", cfg.Name, err)
	}
	return nil
}

// Exists reports whether k3d finds nodes of the sandbox's cluster.
func Exists(ctx context.Context, _ guard.DockerApproval, sandbox string) (bool, error) {
	_, err := get(ctx, sandbox)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, client.ClusterGetNoNodesFoundError):
		return false, nil
	default:
		return false, err
	}
}

// Delete removes the sandbox's cluster (nodes, network, image volume) when it exists
// and every one of its k3s nodes carries the sandbox UUID; a cluster with the same
// name but another (or no) UUID is refused. It reports whether it deleted anything.
func Delete(ctx context.Context, _ guard.DockerApproval, sandbox, uuid string) (bool, error) {
	c, err := get(ctx, sandbox)
	if errors.Is(err, client.ClusterGetNoNodesFoundError) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := owned(c, uuid); err != nil {
		return false, err
	}
	if err := client.ClusterDelete(ctx, runtimes.Docker, c, k3dtypes.ClusterDeleteOpts{}); err != nil {
		return false, fmt.Errorf("delete k3d cluster %s: %w", c.Name, err)
	}
	return true, nil
}

// owned asks the guard whether the cluster's nodes carry the sandbox UUID.
func owned(c *k3dtypes.Cluster, uuid string) error {
	nodes := make([]guard.ClusterNode, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		nodes = append(nodes, guard.ClusterNode{Name: n.Name, Role: string(n.Role), Labels: n.RuntimeLabels})
	}
	return guard.ApproveCluster(c.Name, nodes, uuid)
}

// Kubeconfig reads the admin kubeconfig from the cluster's server, as k3d rewrites
// it: context and cluster k3d-labsbx-<name>, user admin@k3d-labsbx-<name>, server
// https://127.0.0.1:<api port>. It writes nothing; see WriteKubeconfig.
func Kubeconfig(ctx context.Context, _ guard.DockerApproval, sandbox string) (*clientcmdapi.Config, error) {
	c, err := get(ctx, sandbox)
	if err != nil {
		return nil, err
	}
	kc, err := client.KubeconfigGet(ctx, runtimes.Docker, c)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of k3d cluster %s: %w", c.Name, err)
	}
	return kc, nil
}

func get(ctx context.Context, sandbox string) (*k3dtypes.Cluster, error) {
	c, err := client.ClusterGet(ctx, runtimes.Docker, &k3dtypes.Cluster{Name: cluster.Name(sandbox)})
	if err != nil {
		return nil, fmt.Errorf("k3d cluster %s: %w", cluster.Name(sandbox), err)
	}
	return c, nil
}

// Provider is one sandbox's cluster through the k3d library: what the full profile's
// bring-up and down need (cluster.Provider).
type Provider struct {
	appr          guard.DockerApproval
	sandbox, uuid string
}

// NewProvider is the provider of the sandbox's cluster, on the guard-approved engine.
func NewProvider(a guard.DockerApproval, sandbox, uuid string) *Provider {
	return &Provider{appr: a, sandbox: sandbox, uuid: uuid}
}

// Exists reports whether the cluster exists; one of that name whose nodes lack the
// sandbox UUID is refused, never adopted.
func (p *Provider) Exists(ctx context.Context) (bool, error) {
	c, err := get(ctx, p.sandbox)
	switch {
	case errors.Is(err, client.ClusterGetNoNodesFoundError):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, owned(c, p.uuid)
}

// Create builds the cluster config from o and runs it.
func (p *Provider) Create(ctx context.Context, o cluster.Options) error {
	cfg, err := Config(ctx, o)
	if err != nil {
		return err
	}
	if err := Create(ctx, p.appr, cfg); err != nil {
		// k3d does not undo a failed create: remove what it made (the nodes carry the
		// UUID), even when ctx was cancelled, so that the next up starts clean.
		_, derr := p.Delete(context.WithoutCancel(ctx))
		return errors.Join(err, derr)
	}
	return nil
}

// Kubeconfig is the cluster's admin kubeconfig.
func (p *Provider) Kubeconfig(ctx context.Context) (*clientcmdapi.Config, error) {
	return Kubeconfig(ctx, p.appr, p.sandbox)
}

// ImportImages streams images from the engine into every server and agent node, as
// PlanImport decides from the engine: k3d's direct mode on Docker's classic image
// store (no tools node needed), or labsbx's own import of the nodes' platform on the
// containerd image store, where k3d's fails.
func (p *Provider) ImportImages(ctx context.Context, refs []string) error {
	c, err := p.owned(ctx)
	if err != nil {
		return err
	}
	cli, err := p.appr.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	info, err := cli.Info(ctx)
	if err != nil {
		return fmt.Errorf("docker info: %w", err)
	}
	ver, err := cli.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}
	plan := PlanImport(info, ver)
	if plan.Mode == ImportK3dDirect {
		err = client.ImageImportIntoClusterMulti(ctx, runtimes.Docker, refs, c, k3dtypes.ImageImportOpts{Mode: k3dtypes.ImportModeDirect})
	} else {
		var nodes []string
		for _, n := range c.Nodes {
			if n.Role == k3dtypes.ServerRole || n.Role == k3dtypes.AgentRole {
				nodes = append(nodes, n.Name)
			}
		}
		err = importNodePlatform(ctx, cli, nodes, refs, plan.Platform)
	}
	if err != nil {
		return fmt.Errorf("import images into k3d cluster %s (%s): %w", c.Name, plan.Why, err)
	}
	return nil
}

// Delete removes the cluster if it is the sandbox's.
func (p *Provider) Delete(ctx context.Context) (bool, error) {
	return Delete(ctx, p.appr, p.sandbox, p.uuid)
}

// ServerNode is the first server's container, which publishes the NodePorts.
func (p *Provider) ServerNode() string {
	return client.GenerateNodeName(cluster.Name(p.sandbox), k3dtypes.ServerRole, 0)
}

// Stop stops every node of the cluster, if it is the sandbox's.
func (p *Provider) Stop(ctx context.Context) error {
	c, err := p.owned(ctx)
	if err != nil {
		return err
	}
	if err := client.ClusterStop(ctx, runtimes.Docker, c); err != nil {
		return fmt.Errorf("stop k3d cluster %s: %w", c.Name, err)
	}
	return nil
}

// Start starts the cluster's nodes as `k3d cluster start` does, and waits for the
// server, for at most StartTimeout (see startWithin); a timeout says what to do.
func (p *Provider) Start(ctx context.Context) error {
	c, err := p.owned(ctx)
	if err != nil {
		return err
	}
	env, err := client.GatherEnvironmentInfo(ctx, runtimes.Docker, c)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", c.Name, err)
	}
	fromLabels, err := client.GetClusterStartOptsFromLabels(c)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", c.Name, err)
	}
	opts := k3dtypes.ClusterStartOpts{WaitForServer: true, Timeout: StartTimeout, EnvironmentInfo: env,
		Intent: k3dtypes.IntentClusterStart, HostAliases: fromLabels.HostAliases}
	err = startWithin(ctx, StartTimeout, startGrace, func(ctx context.Context) error {
		return client.ClusterStart(ctx, runtimes.Docker, c, opts)
	})
	if errors.Is(err, ErrStartTimeout) {
		servers := 0
		for _, n := range c.Nodes {
			if n.Role == k3dtypes.ServerRole {
				servers++
			}
		}
		return fmt.Errorf("start k3d cluster %s: %w; %s", c.Name, err, startTimeoutHint(p.sandbox, servers))
	}
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", c.Name, err)
	}
	return nil
}

// owned is the sandbox's cluster, refused unless its nodes carry the sandbox UUID.
func (p *Provider) owned(ctx context.Context) (*k3dtypes.Cluster, error) {
	c, err := get(ctx, p.sandbox)
	if err != nil {
		return nil, err
	}
	return c, owned(c, p.uuid)
}
