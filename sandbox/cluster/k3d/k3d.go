package k3d

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// These functions drive the k3d library against the local Docker engine. They need a
// k3s image (and k3d's tools image), which the build machines cannot pull, so no test
// here runs them against a real engine; `go tool task e2e:full` does where the images
// exist. The parts that need no k3s are tested here: the import decision (PlanImport),
// labsbx's own import stream into a stand-in node, the bound on a start, and the
// provider's ownership, leftovers and cleanup after a failed create, with k3d's own
// ClusterRun, ClusterCreate and EnsureToolsNode driving a stand-in runtime and engine.
//
// k3d's runtime reads DOCKER_HOST itself; the DockerApproval parameter makes every
// caller ask the guard first, which refuses any engine that is not local.

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
	// open connects to the approved engine, for what labsbx does itself; rt is the
	// runtime k3d's ClusterRun drives (k3d's Docker runtime, which reads DOCKER_HOST
	// itself: the DockerApproval makes every caller ask the guard first, and it
	// refuses any engine that is not local). Tests put stand-ins in both.
	open func() (engine, error)
	rt   runtimes.Runtime
}

// NewProvider is the provider of the sandbox's cluster, on the guard-approved engine,
// with k3d's helper images h.
func NewProvider(a guard.DockerApproval, sandbox, uuid string, h cluster.Helpers) *Provider {
	pinHelperImages(h)
	open := func() (engine, error) {
		c, err := a.Client()
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return &Provider{appr: a, sandbox: sandbox, uuid: uuid, open: open, rt: runtimes.Docker}
}

// objects reads the cluster's objects from the engine and has the guard judge them;
// an empty view is no cluster, and needs no judgement.
func (p *Provider) objects(ctx context.Context, eng engine) (objects, error) {
	o, err := readObjects(ctx, eng, p.sandbox)
	if err != nil || o.view.Empty() {
		return o, err
	}
	return o, guard.ApproveCluster(p.sandbox, o.view, p.uuid)
}

// Exists reports whether the cluster's servers or agents exist. What a failed create
// leaves without them (a load balancer, the tools container, the network, the image
// volume) is no cluster: Create removes it first. Anything of that name that the
// guard does not prove the sandbox's is refused, never adopted.
func (p *Provider) Exists(ctx context.Context) (bool, error) {
	eng, err := p.open()
	if err != nil {
		return false, err
	}
	defer eng.Close()
	o, err := p.objects(ctx, eng)
	if err != nil {
		return false, err
	}
	return o.kubeNodes() > 0, nil
}

// Create removes what an earlier attempt left, makes the network and image volume
// with the UUID (prepare), builds the cluster config from o and runs it with k3d's
// ClusterRun (network, image volume, tools node, nodes, start, wait for the server),
// which writes no kubeconfig. k3d does not undo a failed create: then Create removes
// what it made, the tools container included, even when ctx was cancelled, so that
// the next up starts clean.
func (p *Provider) Create(ctx context.Context, o cluster.Options) error {
	cfg, err := Config(ctx, o)
	if err != nil {
		return err
	}
	eng, err := p.open()
	if err != nil {
		return err
	}
	defer eng.Close()
	if _, err := p.remove(ctx, eng); err != nil {
		return err
	}
	err = prepare(ctx, eng, p.sandbox, p.uuid)
	if err == nil {
		if err = client.ClusterRun(ctx, p.rt, cfg); err != nil {
			err = fmt.Errorf("create k3d cluster %s: %w", cfg.Name, err)
			waitToolsNode(toolsGrace, toolsWait)
		}
	}
	if err != nil {
		_, derr := p.remove(context.WithoutCancel(ctx), eng)
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
// How long an import into the nodes is tried again (see ImportImages).
const (
	importRetry   = 3 * time.Second
	importTimeout = 90 * time.Second
)

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
	// Right after the cluster starts, a node's containerd may not take an import yet
	// (k3d's stream into it fails: "read/write on closed pipe"). An import of an image
	// already there changes nothing, so the whole import is tried again for a while.
	err = wait.Poll(ctx, wait.Options{Interval: importRetry, Timeout: importTimeout}, func(ctx context.Context) error {
		if plan.Mode == ImportK3dDirect {
			return client.ImageImportIntoClusterMulti(ctx, runtimes.Docker, refs, c, k3dtypes.ImageImportOpts{Mode: k3dtypes.ImportModeDirect})
		}
		var nodes []string
		for _, n := range c.Nodes {
			if n.Role == k3dtypes.ServerRole || n.Role == k3dtypes.AgentRole {
				nodes = append(nodes, n.Name)
			}
		}
		return importNodePlatform(ctx, cli, nodes, refs, plan.Platform)
	})
	if err != nil {
		return fmt.Errorf("import images into k3d cluster %s (%s): %w", c.Name, plan.Why, err)
	}
	return nil
}

// Delete removes the sandbox's cluster: every container labelled with its k3d
// cluster name, its network and its image volume, when the guard proves all of them
// the sandbox's (guard.ApproveCluster); otherwise it removes nothing. This covers what
// a failed create leaves, such as k3d's tools container alone. It reports whether it
// removed anything.
func (p *Provider) Delete(ctx context.Context) (bool, error) {
	eng, err := p.open()
	if err != nil {
		return false, err
	}
	defer eng.Close()
	return p.remove(ctx, eng)
}

func (p *Provider) remove(ctx context.Context, eng engine) (bool, error) {
	o, err := p.objects(ctx, eng)
	if err != nil || o.view.Empty() {
		return false, err
	}
	if err := removeObjects(ctx, eng, o); err != nil {
		return true, fmt.Errorf("delete k3d cluster %s: %w", guard.ClusterName(p.sandbox), err)
	}
	return true, nil
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

// owned is the sandbox's cluster as k3d sees it, once the guard has proved its
// objects, as the engine shows them, the sandbox's.
func (p *Provider) owned(ctx context.Context) (*k3dtypes.Cluster, error) {
	eng, err := p.open()
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	o, err := p.objects(ctx, eng)
	if err != nil {
		return nil, err
	}
	if o.kubeNodes() == 0 {
		return nil, fmt.Errorf("k3d cluster %s has no server or agent node; run `labsbx up` to create it again", guard.ClusterName(p.sandbox))
	}
	return get(ctx, p.sandbox)
}
