package docker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// fakeEngine is the Docker engine at the Engine boundary: a few objects in memory.
type fakeEngine struct {
	Engine     // methods a test does not use panic
	networks   map[string]network.Inspect
	containers []container.Summary
	volumes    []*volume.Volume
	removed    []string
}

var errNotFound = errdefs.NotFound(errors.New("not found"))

func (f *fakeEngine) NetworkInspect(_ context.Context, name string, _ network.InspectOptions) (network.Inspect, error) {
	n, ok := f.networks[name]
	if !ok {
		return n, errNotFound
	}
	return n, nil
}

func (f *fakeEngine) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	f.networks[name] = network.Inspect{Name: name, Labels: o.Labels}
	return network.CreateResponse{ID: name}, nil
}

func (f *fakeEngine) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	return f.containers, nil
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.removed = append(f.removed, "container "+id)
	return nil
}

func (f *fakeEngine) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	return volume.ListResponse{Volumes: f.volumes}, nil
}

func (f *fakeEngine) VolumeRemove(_ context.Context, id string, _ bool) error {
	f.removed = append(f.removed, "volume "+id)
	return nil
}

func (f *fakeEngine) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	var out []network.Summary
	for _, n := range f.networks {
		out = append(out, n)
	}
	return out, nil
}

func (f *fakeEngine) NetworkRemove(_ context.Context, id string) error {
	f.removed = append(f.removed, "network "+id)
	return nil
}

func (f *fakeEngine) Close() error { return nil }

func TestEnsureNetworkLeavesForeignObjectsAlone(t *testing.T) {
	f := &fakeEngine{networks: map[string]network.Inspect{"labsbx-demo": {Name: "labsbx-demo", Labels: map[string]string{"team": "other"}}}}
	rt := NewWithEngine(f, "demo", "")
	_, err := rt.EnsureNetwork(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not created by labsbx") {
		t.Fatalf("EnsureNetwork over a foreign network: %v", err)
	}
	rt2 := NewWithEngine(f, "other", "u-1")
	created, err := rt2.EnsureNetwork(context.Background())
	if err != nil || !created {
		t.Fatalf("EnsureNetwork: %v, created %t", err, created)
	}
	if got := f.networks["labsbx-other"].Labels[guard.LabelSandbox]; got != "other" {
		t.Errorf("network label %q", got)
	}
	if created, err := rt2.EnsureNetwork(context.Background()); err != nil || created {
		t.Errorf("second EnsureNetwork: %v, created %t", err, created)
	}
}

func TestRemoveAllOnlyRemovesLabelled(t *testing.T) {
	ours := map[string]string{guard.LabelSandbox: "demo"}
	f := &fakeEngine{
		networks: map[string]network.Inspect{
			"labsbx-demo": {ID: "n1", Name: "labsbx-demo", Labels: ours},
			"prod":        {ID: "n2", Name: "prod", Labels: map[string]string{guard.LabelSandbox: "demo2"}},
		},
		// The engine's filter is trusted no further than the labels it returns.
		containers: []container.Summary{{ID: "c1", Names: []string{"/labsbx-demo-vault"}, Labels: ours}, {ID: "c2", Names: []string{"/vault-prod"}}},
		volumes:    []*volume.Volume{{Name: "labsbx-demo-vault", Labels: ours}, {Name: "prod-data"}},
	}
	res, err := NewWithEngine(f, "demo", "").RemoveAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.removed, ",") != "container c1,volume labsbx-demo-vault,network n1" {
		t.Errorf("removed %v", f.removed)
	}
	if len(res.Containers) != 1 || res.Containers[0] != "labsbx-demo-vault" {
		t.Errorf("result %+v", res)
	}
}

// TestRemoveAllOnlyRemovesItsUUID: with state, down removes what carries the
// sandbox's UUID and lists the same-named objects of another state root.
func TestRemoveAllOnlyRemovesItsUUID(t *testing.T) {
	mine := map[string]string{guard.LabelSandbox: "demo", guard.LabelUUID: "u-mine"}
	theirs := map[string]string{guard.LabelSandbox: "demo", guard.LabelUUID: "u-theirs"}
	f := &fakeEngine{
		networks:   map[string]network.Inspect{"labsbx-demo": {ID: "n1", Name: "labsbx-demo", Labels: theirs}},
		containers: []container.Summary{{ID: "c1", Names: []string{"/labsbx-demo-vault"}, Labels: mine}, {ID: "c2", Names: []string{"/labsbx-demo-postgres"}, Labels: theirs}},
		volumes:    []*volume.Volume{{Name: "labsbx-demo-vault", Labels: theirs}, {Name: "labsbx-demo-postgres", Labels: map[string]string{guard.LabelSandbox: "demo"}}},
	}
	res, err := NewWithEngine(f, "demo", "u-mine").RemoveAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.removed, ",") != "container c1" {
		t.Errorf("removed %v", f.removed)
	}
	if len(res.LeftAlone) != 4 {
		t.Errorf("left alone: %v", res.LeftAlone)
	}
	// Without state: only what carries no UUID.
	f.removed = nil
	res, err = NewWithEngine(f, "demo", "").RemoveAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.removed, ",") != "volume labsbx-demo-postgres" || len(res.LeftAlone) != 4 {
		t.Errorf("without state: removed %v, left %v", f.removed, res.LeftAlone)
	}
}

// creatingEngine holds a container that a cancelled up left being created: the engine
// answers for its name only after `rounds` inspections, and until it is removed its
// volume is in use.
type creatingEngine struct {
	fakeEngine
	labels  map[string]string
	rounds  int
	present bool
}

func (f *creatingEngine) ContainerInspect(_ context.Context, name string) (container.InspectResponse, error) {
	if !f.present {
		return container.InspectResponse{}, errNotFound
	}
	if f.rounds > 0 {
		f.rounds--
		return container.InspectResponse{}, errNotFound
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: "c1", Name: "/" + name},
		Config:            &container.Config{Labels: f.labels},
	}, nil
}

func (f *creatingEngine) ContainerRemove(ctx context.Context, id string, o container.RemoveOptions) error {
	f.present = false
	return f.fakeEngine.ContainerRemove(ctx, id, o)
}

func (f *creatingEngine) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	return volume.Volume{Name: name, Labels: f.labels}, nil
}

func (f *creatingEngine) VolumeRemove(ctx context.Context, id string, force bool) error {
	if f.present {
		return errdefs.Conflict(errors.New("remove " + id + ": volume is in use - [c1]"))
	}
	return f.fakeEngine.VolumeRemove(ctx, id, force)
}

// A removal after a cancelled up waits for the container the engine was still
// creating, removes it, then the volume; a volume in use for good is still an error.
func TestRemoveComponentWaitsForAContainerBeingCreated(t *testing.T) {
	ours := map[string]string{guard.LabelSandbox: "demo", guard.LabelUUID: "u-1"}
	f := &creatingEngine{labels: ours, rounds: 2, present: true}
	if err := NewWithEngine(f, "demo", "u-1").RemoveComponent(context.Background(), "postgres"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.removed, ","); got != "container c1,volume labsbx-demo-postgres" {
		t.Errorf("removed %s", got)
	}

	defer func(d time.Duration) { inUseWait = d }(inUseWait)
	inUseWait = 300 * time.Millisecond
	stuck := &creatingEngine{labels: ours, rounds: 1 << 30, present: true}
	err := NewWithEngine(stuck, "demo", "u-1").RemoveComponent(context.Background(), "postgres")
	if err == nil || !strings.Contains(err.Error(), "volume is in use") {
		t.Errorf("a volume in use for good: %v", err)
	}
}
