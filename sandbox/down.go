package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"

	uuidpkg "github.com/google/uuid"

	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// DownOptions are the knobs of one `labsbx down`.
type DownOptions struct {
	Name      string
	KeepState bool
	// UUID, without a readable state, names the sandbox whose Docker objects to remove
	// on purpose (--uuid): a sandbox whose state was lost or is corrupt. Without it
	// and without state, down removes only objects that carry no UUID at all.
	UUID string
	// Force removes --uuid's objects even when a known state root owns them or their
	// Vault answers with a known state's cluster_id, and the state dir even when its
	// key may be a left-alone Vault volume's only one. No hint ever gives it.
	Force bool
}

// DownResult says what down removed.
type DownResult struct {
	Name    string         `json:"name"`
	Removed docker.Removed `json:"removed"`
	VMs     []string       `json:"vms,omitempty"` // stopped, overlays removed
	// Cluster is the k3d cluster deleted (full profile).
	Cluster string `json:"cluster,omitempty"`
	// Kubeconfig lists the entries removed from a merged kubeconfig.
	Kubeconfig   []string `json:"kubeconfig,omitempty"`
	StateRemoved bool     `json:"stateRemoved"`
}

// Down removes the sandbox's Docker objects, VMs, cluster and merged kubeconfig
// entries, then its state unless asked to keep it. The guard decides what it may
// remove: objects that carry the sandbox's UUID (from its state, or --uuid); without
// either, only objects of its name that carry no UUID at all. What carries the name
// but another UUID (a same-named sandbox of another state root) is listed and left.
// Running it twice, or on a half-made sandbox, is harmless.
type Down struct {
	cfg *Configuration
	DownOptions
}

// NewDown prepares a down.
func NewDown(cfg *Configuration, opts DownOptions) *Down { return &Down{cfg: cfg, DownOptions: opts} }

// ErrLeftAlone is returned by down when the sandbox's state could not be read and
// Docker objects of its name were left because nothing proves them its own.
var ErrLeftAlone = errors.New("objects left alone")

// Run executes it: it opens the sandbox as down judges it (prepare), then runs
// teardownSteps (teardown.go) in order, each only when it applies, as Up.Run runs
// bring-up's steps.
func (d *Down) Run(ctx context.Context) (*DownResult, error) {
	t, err := d.prepare(ctx, true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	for _, s := range teardownSteps {
		if s.applies != nil && !s.applies(t) {
			continue
		}
		if err := d.cfg.progress().Step(s.title(t), func() error { return s.run(t, ctx) }); err != nil {
			return t.res, err
		}
	}
	return t.res, nil
}

// DryRun says what Run would remove, and why each object is judged the sandbox's,
// without removing or writing anything (`down --dry-run`).
func (d *Down) DryRun(ctx context.Context) (*DownPlan, error) {
	t, err := d.prepare(ctx, false)
	if err != nil {
		return nil, err
	}
	defer t.close()
	plan := &DownPlan{Name: d.DownOptions.Name, UUID: t.uuid, Objects: []docker.Judged{}}
	for _, s := range teardownSteps {
		if s.applies == nil || s.applies(t) {
			plan.Steps = append(plan.Steps, s.title(t))
		}
	}
	if plan.Objects, err = t.rt.Judge(ctx); err != nil {
		return nil, err
	}
	if t.st != nil {
		for _, v := range t.st.VMs {
			plan.VMs = append(plan.VMs, v.Name)
		}
		if t.st.Cluster != nil {
			plan.Cluster = t.st.Cluster.Name
		}
	}
	return plan, nil
}

// DownPlan is what `down --dry-run` prints.
type DownPlan struct {
	Name string `json:"name"`
	// UUID is what proves the objects the sandbox's: its state's, or --uuid ("": no
	// state, so only objects of its name that carry no UUID at all).
	UUID    string          `json:"uuid"`
	Steps   []string        `json:"steps"`
	Objects []docker.Judged `json:"objects"`
	VMs     []string        `json:"vms,omitempty"`
	Cluster string          `json:"cluster,omitempty"`
}

// prepare opens the sandbox for down: the guard approves the engine, the state (or
// --uuid) says whose objects are to go, the recorded engine and the merged kubeconfig
// are judged before anything is removed. With write (Run, not DryRun) it also takes
// the lock and marks the state deleting.
func (d *Down) prepare(ctx context.Context, write bool) (_ *teardown, err error) {
	appr, err := guard.ApproveDocker(d.cfg.Getenv)
	if err != nil {
		return nil, err
	}
	if d.DownOptions.UUID != "" {
		if _, err := uuidpkg.Parse(d.DownOptions.UUID); err != nil {
			return nil, fmt.Errorf("--uuid %q is not a sandbox UUID", d.DownOptions.UUID)
		}
	}
	t := &teardown{d: d, appr: appr, res: &DownResult{Name: d.DownOptions.Name}}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if write {
		if t.lock, err = d.cfg.Store.Lock(d.DownOptions.Name); err != nil {
			return nil, err
		}
	}
	st, err := d.cfg.Store.Load(d.DownOptions.Name)
	t.corrupt = errors.Is(err, state.ErrCorruptState)
	switch {
	case err == nil:
	case errors.Is(err, state.ErrNotFound), t.corrupt:
		st = nil
	default:
		return nil, err
	}
	t.uuid = d.DownOptions.UUID
	if st != nil {
		if t.uuid != "" && t.uuid != st.UUID {
			return nil, fmt.Errorf("the state of sandbox %q records UUID %s; --uuid %s names another sandbox: run down with the LABSBX_HOME that made it", st.Name, st.UUID, t.uuid)
		}
		t.uuid = st.UUID
	}
	if t.corrupt && t.uuid != "" {
		// --uuid vouches for a state that cannot be read: its VMs can go too.
		st = d.cfg.Store.Stub(d.DownOptions.Name, t.uuid)
	}
	t.st = st
	if t.rt, err = d.cfg.docker(appr, d.DownOptions.Name, t.uuid); err != nil {
		return nil, err
	}
	if err := t.rt.Ping(ctx); err != nil {
		return nil, err
	}
	if st != nil && st.EngineID != "" {
		id, err := t.rt.EngineID(ctx)
		if err != nil {
			return nil, err
		}
		if err := guard.ApproveEngine(st.GuardRecord(), id); err != nil {
			return nil, err
		}
	}
	if err := d.checkLostUUID(ctx, appr, st != nil && !t.corrupt); err != nil {
		return nil, err
	}
	if st != nil && st.Kube != nil && st.Kube.Merged != nil {
		// Judged before anything is removed: a refusal leaves the sandbox whole.
		if _, err := guard.ApproveWrite(st.Kube.Merged.Path, guard.KubeconfigFormat, d.cfg.WriteScope()); err != nil {
			return nil, err
		}
	}
	if write && st != nil && !t.corrupt {
		st.Phase = state.PhaseDeleting
		if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
