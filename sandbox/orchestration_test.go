package sandbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// fakeEngine is the Docker engine at up's and down's boundary: it holds objects with
// labels, and records what is removed, in order. What a test does not script panics
// (the embedded nil interface).
type fakeEngine struct {
	docker.Engine
	containers []container.Summary
	volumes    []*volume.Volume
	networks   []network.Summary
	removed    []string
}

func (f *fakeEngine) Ping(context.Context) (types.Ping, error) { return types.Ping{}, nil }
func (f *fakeEngine) Info(context.Context) (system.Info, error) {
	return system.Info{ID: "ENGINE", DockerRootDir: "/var/lib/docker", ServerVersion: "27.0"}, nil
}
func (f *fakeEngine) Close() error { return nil }
func (f *fakeEngine) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return f.containers, nil
}
func (f *fakeEngine) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	return volume.ListResponse{Volumes: f.volumes}, nil
}
func (f *fakeEngine) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	return f.networks, nil
}
func (f *fakeEngine) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.removed = append(f.removed, "container "+id)
	return nil
}
func (f *fakeEngine) VolumeRemove(_ context.Context, name string, _ bool) error {
	f.removed = append(f.removed, "volume "+name)
	return nil
}
func (f *fakeEngine) NetworkRemove(_ context.Context, id string) error {
	f.removed = append(f.removed, "network "+id)
	return nil
}

// sandboxOf puts a sandbox's objects into the engine: each labelled with its name,
// and with uuid unless that is "".
func (f *fakeEngine) sandboxOf(name, uuid string) {
	labels := func() map[string]string {
		l := map[string]string{guard.LabelSandbox: name}
		if uuid != "" {
			l[guard.LabelUUID] = uuid
		}
		return l
	}
	suffix := uuid
	if suffix == "" {
		suffix = "none"
	}
	f.containers = append(f.containers, container.Summary{ID: "c-" + suffix, Names: []string{"/labsbx-" + name + "-vault"}, Labels: labels()})
	f.volumes = append(f.volumes, &volume.Volume{Name: "labsbx-" + name + "-vault-" + suffix, Labels: labels()})
	f.networks = append(f.networks, network.Summary{ID: "n-" + suffix, Name: "labsbx-" + name + "-" + suffix, Labels: labels()})
}

// steps records the progress steps an operation runs, in order.
type steps struct{ names []string }

func (s *steps) Step(name string, fn func() error) error {
	s.names = append(s.names, name)
	return fn()
}
func (s *steps) Infof(string, ...any) {}

func newFakeConf(t *testing.T, eng *fakeEngine) (*Configuration, *steps) {
	t.Helper()
	store, err := state.NewStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	p := &steps{}
	return &Configuration{Store: store, Progress: p, Getenv: func(string) string { return "" },
		Docker: func(_ guard.DockerApproval, name, uuid string) (*docker.Runtime, error) {
			return docker.NewWithEngine(eng, name, uuid), nil
		}}, p
}

func saveSandbox(t *testing.T, conf *Configuration, name string, spec config.Spec, edit func(*state.State)) *state.State {
	t.Helper()
	st := conf.Store.New(name, spec, time.Now())
	if edit != nil {
		edit(st)
	}
	if err := conf.Store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	return st
}

// twoSameNamed is sandbox demo with its state, its objects in the engine, and those of
// a same-named sandbox of another state root (another UUID).
func twoSameNamed(t *testing.T) (*fakeEngine, *Configuration, *steps, *state.State) {
	eng := &fakeEngine{}
	conf, p := newFakeConf(t, eng)
	st := saveSandbox(t, conf, "demo", config.DefaultSpec(), nil)
	eng.sandboxOf("demo", st.UUID)
	eng.sandboxOf("demo", "11111111-2222-3333-4444-555555555555")
	return eng, conf, p, st
}

// Down runs its steps in order: Docker objects (containers, volumes, then the
// network) that carry the sandbox's UUID, then the state; a same-named sandbox's
// objects (another UUID) are left alone and said why.
func TestDownTeardownOrder(t *testing.T) {
	eng, conf, p, st := twoSameNamed(t)
	res, err := NewDown(conf, DownOptions{Name: "demo"}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("container c-%[1]s,volume labsbx-demo-vault-%[1]s,network n-%[1]s", st.UUID)
	if got := strings.Join(eng.removed, ","); got != want {
		t.Errorf("removed %s\nwant    %s", got, want)
	}
	if len(res.Removed.LeftAlone) != 3 || strings.HasPrefix(res.Removed.LeftAlone[0], "refused") || !strings.Contains(res.Removed.LeftAlone[0], "11111111") {
		t.Errorf("left alone: %q", res.Removed.LeftAlone)
	}
	if got := strings.Join(p.names, " | "); got != "Removing containers, volumes and network of demo | Removing state of demo" {
		t.Errorf("steps: %s", got)
	}
	if !res.StateRemoved {
		t.Error("state not removed")
	}
	if _, err := conf.Store.Load("demo"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("state after down: %v", err)
	}
}

// down --dry-run lists the steps and judges every object, saying why it is the
// sandbox's, and removes and writes nothing.
func TestDownDryRun(t *testing.T) {
	eng, conf, p, st := twoSameNamed(t)
	plan, err := NewDown(conf, DownOptions{Name: "demo", KeepState: true}).DryRun(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(eng.removed) > 0 || len(p.names) > 0 {
		t.Errorf("a dry run removed %v, ran %v", eng.removed, p.names)
	}
	if got := strings.Join(plan.Steps, " | "); got != "Removing containers, volumes and network of demo | Keeping the state of demo (phase removed)" {
		t.Errorf("steps: %s", got)
	}
	if len(plan.Objects) != 6 {
		t.Fatalf("objects: %+v", plan.Objects)
	}
	for _, o := range plan.Objects {
		if o.Remove && !strings.Contains(o.Why, "UUID "+st.UUID) {
			t.Errorf("%s %s removed because %q; want its UUID named", o.Kind, o.Name, o.Why)
		}
		if !o.Remove && !strings.Contains(o.Why, "11111111") {
			t.Errorf("%s %s left because %q", o.Kind, o.Name, o.Why)
		}
	}
	if got, _ := conf.Store.Load("demo"); got == nil || got.Phase == state.PhaseDeleting {
		t.Errorf("a dry run wrote the state: %+v", got)
	}
}

// Without state, down removes only objects of the name that carry no UUID at all.
func TestDownWithoutState(t *testing.T) {
	eng := &fakeEngine{}
	conf, _ := newFakeConf(t, eng)
	eng.sandboxOf("demo", "")
	eng.sandboxOf("demo", "11111111-2222-3333-4444-555555555555")
	if _, err := NewDown(conf, DownOptions{Name: "demo"}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(eng.removed, ","); got != "container c-none,volume labsbx-demo-vault-none,network n-none" {
		t.Errorf("removed %s", got)
	}
}

// Up refuses before it writes anything: an unknown --profile; a sandbox that exists
// with another profile; one that a down left half-removed.
func TestUpRefusals(t *testing.T) {
	eng := &fakeEngine{}
	conf, _ := newFakeConf(t, eng)
	cfg, err := config.Load("", conf.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewUp(conf, UpOptions{Name: "demo", Config: cfg, Profile: "huge"}).Run(context.Background()); err == nil || !strings.Contains(err.Error(), `invalid profile "huge"`) {
		t.Errorf("--profile huge: %v", err)
	}
	full := config.DefaultSpec()
	full.Profile = config.ProfileFull
	saveSandbox(t, conf, "demo", full, nil)
	_, err = NewUp(conf, UpOptions{Name: "demo", Config: cfg, Profile: config.ProfileVault}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `exists with profile "full"`) {
		t.Errorf("profile change: %v", err)
	}
	saveSandbox(t, conf, "gone", config.DefaultSpec(), func(st *state.State) { st.Phase = state.PhaseDeleting })
	_, err = NewUp(conf, UpOptions{Name: "gone", Config: cfg, Profile: config.ProfileVault}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "was being removed") {
		t.Errorf("half-removed sandbox: %v", err)
	}
	if st, _ := conf.Store.Load("gone"); st.Phase != state.PhaseDeleting {
		t.Errorf("phase after the refusal: %s", st.Phase)
	}
}

// `up --vms N` sticks until `up --vms 0`: without --vms, and without VMs in the config,
// an existing sandbox keeps its count.
func TestUpStickyVMs(t *testing.T) {
	spec := config.DefaultSpec()
	had := config.DefaultSpec()
	had.VMs.Count = 2
	st := &state.State{Spec: had}
	zero, three := 0, 3
	for _, tc := range []struct {
		name string
		vms  *int
		cfg  int
		want int
	}{
		{"kept", nil, 0, 2},
		{"--vms 0", &zero, 0, 0},
		{"--vms 3", &three, 0, 3},
		{"the config's own count", nil, 1, 1},
	} {
		c := &config.Config{Spec: spec}
		c.Spec.VMs.Count = tc.cfg
		o := UpOptions{Config: c, VMs: tc.vms}
		s, err := o.effectiveSpec()
		if err != nil {
			t.Fatal(err)
		}
		if got := o.onSandbox(s, st).VMs.Count; got != tc.want {
			t.Errorf("%s: %d VMs, want %d", tc.name, got, tc.want)
		}
	}
	if _, err := (UpOptions{Config: &config.Config{Spec: spec}, VMs: intPtr(99)}).effectiveSpec(); err == nil {
		t.Error("--vms 99 accepted")
	}
}

func intPtr(v int) *int { return &v }
