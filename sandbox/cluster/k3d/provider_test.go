package k3d

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"
	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3ddocker "github.com/k3d-io/k3d/v5/pkg/runtimes/docker"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// These tests run k3d's own code (ClusterRun, ClusterPrep, ClusterCreate,
// EnsureToolsNode, and its Docker runtime's TranslateNodeToContainer) against a
// stand-in k3d runtime and Docker engine: no k3s or k3d-tools image can be pulled
// here, so no real node is made. The stand-ins keep what labsbx relies on of Docker:
// a volume create of an existing name returns that volume unchanged; a volume a
// container mounts, even a stopped one, cannot be removed; a container's named volume
// is created, unlabelled, if missing.

const otherUUID = "0f0f0f0f-0000-4000-8000-000000000000"

// fakeEngine stands in for the Docker engine at the Engine API boundary.
type fakeEngine struct {
	mu         sync.Mutex
	seq        int
	containers []container.Summary
	networks   []network.Summary
	volumes    []*volume.Volume
	removed    []string // "kind name", in order
}

func (e *fakeEngine) newID() string { e.seq++; return fmt.Sprintf("%064x", e.seq) }

func copyLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// The lists ignore filters: the provider must pick its own objects.
func (e *fakeEngine) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.containers), nil
}

func (e *fakeEngine) ContainerRemove(_ context.Context, id string, o container.RemoveOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, c := range e.containers {
		if c.ID == id {
			if c.State == "running" && !o.Force {
				return errdefs.Conflict(errors.New("container is running"))
			}
			e.containers = slices.Delete(e.containers, i, i+1)
			e.removed = append(e.removed, "container "+containerName(c))
			return nil
		}
	}
	return errdefs.NotFound(fmt.Errorf("no container %s", id))
}

func (e *fakeEngine) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.networks), nil
}

func (e *fakeEngine) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.networks {
		if n.Name == name {
			return network.CreateResponse{}, errdefs.Conflict(fmt.Errorf("network %s exists", name))
		}
	}
	n := network.Summary{Name: name, ID: e.newID(), Driver: o.Driver, Labels: copyLabels(o.Labels)}
	e.networks = append(e.networks, n)
	return network.CreateResponse{ID: n.ID}, nil
}

func (e *fakeEngine) NetworkRemove(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, n := range e.networks {
		if n.ID == id {
			for _, c := range e.containers {
				if _, on := c.NetworkSettings.Networks[n.Name]; on && c.State == "running" {
					return errdefs.Forbidden(fmt.Errorf("network %s has active endpoints", n.Name))
				}
			}
			e.networks = slices.Delete(e.networks, i, i+1)
			e.removed = append(e.removed, "network "+n.Name)
			return nil
		}
	}
	return errdefs.NotFound(fmt.Errorf("no network %s", id))
}

func (e *fakeEngine) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return volume.ListResponse{Volumes: slices.Clone(e.volumes)}, nil
}

// VolumeCreate returns an existing volume of that name unchanged, as Docker does
// (moby volume/service/store.go, create).
func (e *fakeEngine) VolumeCreate(_ context.Context, o volume.CreateOptions) (volume.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.volume(o.Name, o.Labels), nil
}

func (e *fakeEngine) volume(name string, labels map[string]string) *volume.Volume {
	for _, v := range e.volumes {
		if v.Name == name {
			return v
		}
	}
	v := &volume.Volume{Name: name, Driver: "local", Labels: copyLabels(labels)}
	e.volumes = append(e.volumes, v)
	return v
}

func (e *fakeEngine) VolumeRemove(_ context.Context, name string, _ bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, v := range e.volumes {
		if v.Name == name {
			for _, c := range e.containers {
				for _, m := range c.Mounts {
					if m.Type == mount.TypeVolume && m.Name == name {
						return errdefs.Conflict(fmt.Errorf("volume %s is in use by %s", name, containerName(c)))
					}
				}
			}
			e.volumes = slices.Delete(e.volumes, i, i+1)
			e.removed = append(e.removed, "volume "+name)
			return nil
		}
	}
	return errdefs.NotFound(fmt.Errorf("no volume %s", name))
}

func (e *fakeEngine) Close() error { return nil }

// create makes a container from k3d's Docker translation of a node, as the engine
// would: binds whose source is not a path are named volumes (made if missing), and
// every network must exist.
func (e *fakeEngine) create(name string, d *k3ddocker.NodeInDocker) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.containers {
		if containerName(c) == name {
			return errdefs.Conflict(fmt.Errorf("container name %s is in use", name))
		}
	}
	c := container.Summary{ID: e.newID(), Names: []string{"/" + name}, Image: d.ContainerConfig.Image, State: "created",
		Labels: copyLabels(d.ContainerConfig.Labels), NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}}}
	for _, b := range d.HostConfig.Binds {
		src, dst, _ := strings.Cut(b, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if strings.HasPrefix(src, "/") {
			c.Mounts = append(c.Mounts, container.MountPoint{Type: mount.TypeBind, Source: src, Destination: dst})
			continue
		}
		e.volume(src, nil)
		c.Mounts = append(c.Mounts, container.MountPoint{Type: mount.TypeVolume, Name: src, Destination: dst})
	}
	for net := range d.NetworkingConfig.EndpointsConfig {
		if !slices.ContainsFunc(e.networks, func(n network.Summary) bool { return n.Name == net }) {
			return errdefs.NotFound(fmt.Errorf("network %s not found", net))
		}
		c.NetworkSettings.Networks[net] = &network.EndpointSettings{}
	}
	e.containers = append(e.containers, c)
	return nil
}

func (e *fakeEngine) start(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, c := range e.containers {
		if containerName(c) == name {
			e.containers[i].State = "running"
			return nil
		}
	}
	return errdefs.NotFound(fmt.Errorf("no container %s", name))
}

// names lists what the engine holds, as "kind name".
func (e *fakeEngine) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.containers {
		out = append(out, "container "+containerName(c))
	}
	for _, n := range e.networks {
		out = append(out, "network "+n.Name)
	}
	for _, v := range e.volumes {
		out = append(out, "volume "+v.Name)
	}
	slices.Sort(out)
	return out
}

// fakeRuntime is k3d's runtime over fakeEngine, doing what k3d's Docker runtime does
// (pkg/runtimes/docker, v5.8.3) for the calls a create makes. A call it lacks panics
// on the nil embedded interface, so a k3d change that needs more shows up.
type fakeRuntime struct {
	runtimes.Runtime
	eng        *fakeEngine
	failKube   error         // creating a server or agent fails so (a k3s image that cannot be pulled)
	toolsDelay time.Duration // creating the tools container takes this long
}

func (r *fakeRuntime) GetRuntimePath() string { return "/var/run/docker.sock" }

func (r *fakeRuntime) GetNode(_ context.Context, n *k3dtypes.Node) (*k3dtypes.Node, error) {
	r.eng.mu.Lock()
	defer r.eng.mu.Unlock()
	for _, c := range r.eng.containers {
		if containerName(c) == n.Name {
			return &k3dtypes.Node{Name: n.Name, Role: k3dtypes.NodeRoles[c.Labels[k3dtypes.LabelRole]], RuntimeLabels: copyLabels(c.Labels),
				State: k3dtypes.NodeState{Running: c.State == "running", Status: c.State}}, nil
		}
	}
	return n, fmt.Errorf("no container %s", n.Name)
}

// CreateNetworkIfNotPresent reuses a network of that name, else makes one with k3d's
// labels only (network.go).
func (r *fakeRuntime) CreateNetworkIfNotPresent(ctx context.Context, in *k3dtypes.ClusterNetwork) (*k3dtypes.ClusterNetwork, bool, error) {
	ns, _ := r.eng.NetworkList(ctx, network.ListOptions{})
	for _, n := range ns {
		if n.Name == in.Name {
			return &k3dtypes.ClusterNetwork{Name: n.Name, ID: n.ID}, true, nil
		}
	}
	resp, err := r.eng.NetworkCreate(ctx, in.Name, network.CreateOptions{Driver: "bridge", Labels: copyLabels(k3dtypes.DefaultRuntimeLabels)})
	if err != nil {
		return nil, false, err
	}
	return &k3dtypes.ClusterNetwork{Name: in.Name, ID: resp.ID}, false, nil
}

// CreateVolume adds k3d's labels and asks the engine (volume.go).
func (r *fakeRuntime) CreateVolume(ctx context.Context, name string, labels map[string]string) error {
	for k, v := range k3dtypes.DefaultRuntimeLabels {
		labels[k] = v
	}
	for k, v := range k3dtypes.DefaultRuntimeLabelsVar {
		labels[k] = v
	}
	_, err := r.eng.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels})
	return err
}

func (r *fakeRuntime) CreateNode(_ context.Context, n *k3dtypes.Node) error {
	if r.failKube != nil && (n.Role == k3dtypes.ServerRole || n.Role == k3dtypes.AgentRole) {
		return r.failKube
	}
	if n.Role == k3dtypes.NoRole {
		time.Sleep(r.toolsDelay)
	}
	d, err := k3ddocker.TranslateNodeToContainer(n)
	if err != nil {
		return err
	}
	return r.eng.create(n.Name, d)
}

func (r *fakeRuntime) StartNode(_ context.Context, n *k3dtypes.Node) error {
	return r.eng.start(n.Name)
}

// k3dEnv keeps k3d's code away from any engine: its Docker client (which k3d's
// translation asks about the network) finds none, and its fixes are decided by
// the environment rather than by asking the runtime.
func k3dEnv(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	for _, f := range []string{k3dtypes.K3dEnvFixCgroupV2, k3dtypes.K3dEnvFixDNS, k3dtypes.K3dEnvFixMounts} {
		t.Setenv(f, "false")
	}
}

func testProvider(eng *fakeEngine, rt runtimes.Runtime, uuid string) *Provider {
	return &Provider{sandbox: "demo", uuid: uuid, rt: rt, open: func() (engine, error) { return eng, nil }}
}

// leftTools makes what a create that failed before any node leaves: k3d's network
// and image volume (through labsbx's prepare when uuid is set) and k3d's tools
// container, made by k3d's EnsureToolsNode.
func leftTools(t *testing.T, eng *fakeEngine, rt runtimes.Runtime, uuid string) {
	t.Helper()
	ctx := t.Context()
	if uuid != "" {
		if err := prepare(ctx, eng, "demo", uuid); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Config(ctx, testOptions(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := k3dclient.ClusterPrep(ctx, rt, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := k3dclient.EnsureToolsNode(ctx, rt, &cfg.Cluster); err != nil {
		t.Fatal(err)
	}
}

// TestK3dNamesAndLabels: the names and labels the guard knows k3d by are k3d's.
func TestK3dNamesAndLabels(t *testing.T) {
	if guard.K3dLabelCluster != k3dtypes.LabelClusterName || guard.K3dLabelRole != k3dtypes.LabelRole ||
		k3dtypes.DefaultRuntimeLabels[guard.K3dLabelApp] != "k3d" || string(k3dtypes.NoRole) != "noRole" {
		t.Errorf("guard's k3d labels differ from k3d's (%s, %s, %v, %s)", k3dtypes.LabelClusterName, k3dtypes.LabelRole, k3dtypes.DefaultRuntimeLabels, k3dtypes.NoRole)
	}
	c := guard.ClusterName("demo")
	for got, want := range map[string]string{
		guard.K3dNetworkName("demo"):     fmt.Sprintf("%s-%s", k3dtypes.DefaultObjectNamePrefix, c),
		guard.K3dImageVolumeName("demo"): fmt.Sprintf("%s-%s-images", k3dtypes.DefaultObjectNamePrefix, c),
		guard.K3dToolsName("demo"):       fmt.Sprintf("%s-%s-tools", k3dtypes.DefaultObjectNamePrefix, c),
	} {
		if got != want {
			t.Errorf("guard says %s, k3d makes %s", got, want)
		}
	}
}

// TestK3dNodeStructsDropOurLabels: k3d's view of a container (ClusterGet, GetNode)
// keeps only its k3d.* labels, which is why the provider reads ownership from the
// engine.
func TestK3dNodeStructsDropOurLabels(t *testing.T) {
	n, err := k3ddocker.TranslateContainerDetailsToNode(container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{Name: "/k3d-labsbx-demo-server-0", State: &container.State{}, HostConfig: &container.HostConfig{}},
		Config: &container.Config{Labels: map[string]string{"app": "k3d", k3dtypes.LabelClusterName: "labsbx-demo", k3dtypes.LabelRole: "server",
			guard.LabelUUID: testOptions(1, 0).UUID, guard.LabelComponent: "k3d"}},
		NetworkSettings: &container.NetworkSettings{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.RuntimeLabels[guard.LabelUUID]; ok || n.RuntimeLabels[k3dtypes.LabelClusterName] != "labsbx-demo" {
		t.Errorf("k3d's node labels %v: expected k3d.* only", n.RuntimeLabels)
	}
}

// TestProviderWholeCluster: a cluster as k3d's ClusterPrep, EnsureToolsNode and
// ClusterCreate make it after labsbx's prepare: every container, the network and the
// image volume carry the UUID, but the tools container, which mounts the volume. It
// exists, and Delete removes all of it, the volume last.
func TestProviderWholeCluster(t *testing.T) {
	k3dEnv(t)
	ctx := t.Context()
	eng := &fakeEngine{}
	rt := &fakeRuntime{eng: eng}
	o := testOptions(2, 1)
	if err := prepare(ctx, eng, "demo", o.UUID); err != nil {
		t.Fatal(err)
	}
	cfg, err := Config(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := k3dclient.ClusterPrep(ctx, rt, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := k3dclient.EnsureToolsNode(ctx, rt, &cfg.Cluster); err != nil {
		t.Fatal(err)
	}
	if err := k3dclient.ClusterCreate(ctx, rt, &cfg.Cluster, &cfg.ClusterCreateOpts); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"container k3d-labsbx-demo-agent-0", "container k3d-labsbx-demo-server-0", "container k3d-labsbx-demo-server-1",
		"container k3d-labsbx-demo-serverlb", "container k3d-labsbx-demo-tools",
		"network k3d-labsbx-demo", "volume k3d-labsbx-demo-images",
	}
	if got := eng.names(); !slices.Equal(got, want) {
		t.Fatalf("k3d made %v, want %v", got, want)
	}
	for _, c := range eng.containers {
		_, has := c.Labels[guard.LabelUUID]
		if has == (containerName(c) == "k3d-labsbx-demo-tools") {
			t.Errorf("container %s: UUID label %v", containerName(c), has)
		}
		if c.Labels[k3dtypes.LabelNetworkExternal] != "true" && containerName(c) != "k3d-labsbx-demo-tools" {
			t.Errorf("container %s: k3d did not reuse labsbx's network (labels %v)", containerName(c), c.Labels)
		}
	}
	if v := eng.volumes[0]; v.Labels[guard.LabelUUID] != o.UUID || v.Labels[k3dtypes.LabelClusterName] != "labsbx-demo" {
		t.Errorf("image volume labels %v", v.Labels)
	}
	p := testProvider(eng, rt, o.UUID)
	if ok, err := p.Exists(ctx); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if ok, err := p.Delete(ctx); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if got := eng.names(); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
	if n := len(eng.removed); n != 7 || eng.removed[n-2] != "network k3d-labsbx-demo" || eng.removed[n-1] != "volume k3d-labsbx-demo-images" {
		t.Errorf("removed %v: want the 5 containers, then the network, then the volume", eng.removed)
	}
	if ok, err := p.Delete(ctx); ok || err != nil {
		t.Errorf("second Delete = %v, %v: want nothing to do", ok, err)
	}
}

// TestProviderLeftoverTools: what a create that failed before any node leaves (the
// tools container, the network, the image volume) is no cluster, and Delete removes
// it, tools container included.
func TestProviderLeftoverTools(t *testing.T) {
	k3dEnv(t)
	ctx := t.Context()
	eng := &fakeEngine{}
	rt := &fakeRuntime{eng: eng}
	uuid := testOptions(1, 0).UUID
	leftTools(t, eng, rt, uuid)
	// A same-named sandbox's cluster and a stranger's network are none of this.
	other := &k3ddocker.NodeInDocker{ContainerConfig: container.Config{Labels: map[string]string{"app": "k3d", k3dtypes.LabelClusterName: "labsbx-demo2"}}}
	if err := eng.create("k3d-labsbx-demo2-tools", other); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.NetworkCreate(ctx, "k3d-labsbx-demo-x", network.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := testProvider(eng, rt, uuid)
	if ok, err := p.Exists(ctx); ok || err != nil {
		t.Errorf("Exists on leftovers = %v, %v; want false", ok, err)
	}
	if ok, err := p.Delete(ctx); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	want := []string{"container k3d-labsbx-demo2-tools", "network k3d-labsbx-demo-x"}
	if got := eng.names(); !slices.Equal(got, want) {
		t.Errorf("after Delete: %v, want %v", got, want)
	}
}

// TestProviderRefusesUnproven: a tools container of that name with nothing that
// proves it this sandbox's, or proved another's, is refused, and nothing is removed
// or created.
func TestProviderRefusesUnproven(t *testing.T) {
	k3dEnv(t)
	for _, tc := range []struct {
		name, prepared string
	}{
		{"k3d's own network and volume (no UUID)", ""},
		{"another sandbox's UUID", otherUUID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			eng := &fakeEngine{}
			// Should Create get past the guard, k3d's create fails rather than run on.
			rt := &fakeRuntime{eng: eng, failKube: errors.New("no k3s image")}
			leftTools(t, eng, rt, tc.prepared)
			before := eng.names()
			if len(before) != 3 {
				t.Fatalf("leftovers %v", before)
			}
			p := testProvider(eng, rt, testOptions(1, 0).UUID)
			if _, err := p.Exists(ctx); !errors.Is(err, guard.ErrRefused) {
				t.Errorf("Exists = %v, want a refusal", err)
			}
			if _, err := p.Delete(ctx); !errors.Is(err, guard.ErrRefused) {
				t.Errorf("Delete = %v, want a refusal", err)
			}
			if err := p.Create(ctx, testOptions(1, 0)); !errors.Is(err, guard.ErrRefused) {
				t.Errorf("Create = %v, want a refusal", err)
			}
			if got := eng.names(); !slices.Equal(got, before) || len(eng.removed) != 0 {
				t.Errorf("engine %v, removed %v: want %v untouched", got, eng.removed, before)
			}
		})
	}
}

// TestProviderFailedCreate: k3d's ClusterRun fails to create the server (no k3s
// image) and returns while its goroutine is still making the tools container; Create
// waits for it and removes everything it made.
func TestProviderFailedCreate(t *testing.T) {
	k3dEnv(t)
	ctx := t.Context()
	eng := &fakeEngine{}
	pull := errors.New("pull access denied for rancher/k3s")
	// ClusterCreate waits a second before a single server: the tools container is
	// made half a second after ClusterRun has returned.
	rt := &fakeRuntime{eng: eng, failKube: pull, toolsDelay: 1500 * time.Millisecond}
	o := testOptions(1, 0)
	p := testProvider(eng, rt, o.UUID)
	// Leftovers of an earlier attempt go first.
	leftTools(t, eng, &fakeRuntime{eng: eng}, o.UUID)
	start := time.Now()
	err := p.Create(ctx, o)
	// k3d formats its causes with %+v: the text stays, not the error.
	if err == nil || !strings.Contains(err.Error(), pull.Error()) || !strings.HasPrefix(err.Error(), "create k3d cluster labsbx-demo") {
		t.Fatalf("Create = %v, want k3d's failure", err)
	}
	if time.Since(start) < rt.toolsDelay {
		t.Errorf("Create returned after %s, before k3d's tools container was made", time.Since(start))
	}
	if got := eng.names(); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
	var tools int
	for _, r := range eng.removed {
		if r == "container k3d-labsbx-demo-tools" {
			tools++
		}
	}
	if tools != 2 {
		t.Errorf("removed %v: want the earlier tools container, then the new one", eng.removed)
	}
}

// TestWaitToolsNodeIsBounded: a tools container that k3d never finishes is not waited
// for past the limit.
func TestWaitToolsNodeIsBounded(t *testing.T) {
	k3dclient.EnsureToolsNodeMutex.Lock()
	defer k3dclient.EnsureToolsNodeMutex.Unlock()
	start := time.Now()
	waitToolsNode(0, 200*time.Millisecond)
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("waitToolsNode returned after %s, want about 200ms", d)
	}
}

// Every provider names k3d's helper images from the spec: a process that only starts an
// existing cluster (full-restart, drill recover, a resumed up) must not ask k3d for
// k3d-tools:latest, which no bundle holds, and the caller's K3D_IMAGE_* never steers it.
func TestNewProviderPinsHelperImages(t *testing.T) {
	t.Setenv(k3dtypes.K3dEnvImageTools, "ghcr.io/k3d-io/k3d-tools:latest")
	t.Setenv(k3dtypes.K3dEnvImageLoadbalancer, "")
	NewProvider(guard.DockerApproval{}, "pin", "uuid", cluster.Helpers{Tools: "labsbx.local/k3d-tools:5.8.3"})
	if got := k3dtypes.GetToolsImage(); got != "labsbx.local/k3d-tools:5.8.3" {
		t.Errorf("k3d's tools image %q, want the spec's", got)
	}
	if got := k3dtypes.GetLoadbalancerImage(); got != cluster.LoadBalancerImage() {
		t.Errorf("k3d's load balancer image %q, want the pinned %q", got, cluster.LoadBalancerImage())
	}
	NewProvider(guard.DockerApproval{}, "pin", "uuid", cluster.Helpers{})
	if got := k3dtypes.GetToolsImage(); got != cluster.ToolsImage() {
		t.Errorf("k3d's tools image %q with no spec value, want the pinned %q", got, cluster.ToolsImage())
	}
}
