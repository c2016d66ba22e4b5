package sandbox

import (
	"context"
	"fmt"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// teardownSteps are what down does, in order; Down.Run runs the ones that apply and
// `down --dry-run` prints them. Each is safe to run again: a down that stopped halfway
// finishes on the next run. What each removes was judged the sandbox's by the guard:
// VMs by their PID files in its state dir and the UUID in their command line, the
// cluster by ApproveCluster, Docker objects by JudgeRemoval (their UUID label).
var teardownSteps = []teardownStep{{
	// VMs first: they need the state (their PID files, the UUID in their command
	// line), and must be gone before it is.
	title: func(t *teardown) string {
		return fmt.Sprintf("Stopping and removing %d arm64 VMs of %s", len(t.st.VMs), t.st.Name)
	},
	applies: func(t *teardown) bool { return t.st != nil && (len(t.st.VMs) > 0 || dirExists(t.vmsDir())) },
	run:     (*teardown).removeVMs,
}, {
	title:   func(t *teardown) string { return "Removing the sandbox's entries from " + t.st.Kube.Merged.Path },
	applies: func(t *teardown) bool { return t.st != nil && t.st.Kube != nil && t.st.Kube.Merged != nil },
	run:     (*teardown).unmerge,
}, {
	title:   func(t *teardown) string { return "Deleting k3d cluster " + t.st.Cluster.Name },
	applies: func(t *teardown) bool { return t.st != nil && t.st.Cluster != nil },
	run:     (*teardown).deleteCluster,
}, {
	title: func(t *teardown) string { return "Removing containers, volumes and network of " + t.d.DownOptions.Name },
	run:   (*teardown).removeDocker,
}, {
	title:   func(t *teardown) string { return "Keeping the state of " + t.d.DownOptions.Name + " (phase removed)" },
	applies: func(t *teardown) bool { return t.d.DownOptions.KeepState },
	run:     (*teardown).keepState,
}, {
	title:   func(t *teardown) string { return "Removing state of " + t.d.DownOptions.Name },
	applies: func(t *teardown) bool { return !t.d.DownOptions.KeepState },
	run:     (*teardown).removeState,
}}

// teardownStep is one step of down.
type teardownStep struct {
	title func(*teardown) string
	// applies: the step has something to do (nil: always).
	applies func(*teardown) bool
	run     func(*teardown, context.Context) error
}

// teardown is one down's run: what its steps share.
type teardown struct {
	d    *Down
	appr guard.DockerApproval
	lock *state.Lock
	rt   *docker.Runtime
	// st is the sandbox's state (a stub when --uuid vouches for a corrupt one); nil
	// without state.
	st      *state.State
	corrupt bool
	// uuid proves objects the sandbox's: the state's, or --uuid.
	uuid string
	res  *DownResult
	// leftAlone: the Docker step left objects of the name because nothing proves them
	// the sandbox's.
	leftAlone bool
}

func (t *teardown) close() {
	if t.rt != nil {
		_ = t.rt.Close()
	}
	if t.lock != nil {
		t.lock.Unlock()
	}
}

// save writes the state as the steps leave it (not a corrupt one: it stays for
// `down --uuid`).
func (t *teardown) save() error {
	if t.corrupt {
		return nil
	}
	return t.d.cfg.Store.Save(t.st, t.d.cfg.now())
}

func (t *teardown) vmsDir() string {
	return connect.New(t.st, t.d.cfg.Getenv).VMs(t.d.cfg.log()).VMsDir()
}

func (t *teardown) removeVMs(ctx context.Context) error {
	var err error
	if t.res.VMs, err = removeVMs(ctx, t.d.cfg, t.st); err != nil {
		return err
	}
	t.st.VMs = nil
	return t.save()
}

func (t *teardown) unmerge(context.Context) error {
	var err error
	t.res.Kubeconfig, err = t.d.cfg.unmerge(t.st)
	return err
}

func (t *teardown) deleteCluster(ctx context.Context) error {
	st := t.st
	if t.d.cfg.Clusters == nil {
		return fmt.Errorf("%w: this build cannot remove k3d cluster %s", ErrProfileUnavailable, st.Cluster.Name)
	}
	prov, err := t.d.cfg.Clusters(t.appr, st.Name, st.UUID, cluster.HelpersOf(st.Spec.Cluster))
	if err != nil {
		return err
	}
	deleted, err := prov.Delete(ctx)
	if deleted {
		t.res.Cluster = st.Cluster.Name
	}
	if err != nil {
		return err
	}
	st.Cluster, st.Kube = nil, nil
	return t.save()
}

func (t *teardown) removeDocker(ctx context.Context) error {
	var err error
	t.res.Removed, err = t.rt.RemoveAll(ctx)
	if err != nil {
		return err
	}
	for _, l := range t.res.Removed.LeftAlone {
		t.d.cfg.progress().Infof("Left alone: %s", l)
	}
	t.d.explainLeftAlone(ctx, t.rt)
	t.leftAlone = t.corrupt && t.uuid == "" && len(t.res.Removed.LeftAlone) > 0
	if t.leftAlone {
		// Nothing proves whose the objects are: keep the state, and say how to finish.
		return fmt.Errorf("%w: the state of sandbox %q is corrupt, so nothing proves the objects listed above are its own; if they are, run `labsbx down --name %s --uuid <UUID>` with the UUID they carry", ErrLeftAlone, t.d.DownOptions.Name, t.d.DownOptions.Name)
	}
	return nil
}

func (t *teardown) keepState(context.Context) error {
	if t.st == nil || t.corrupt {
		return nil
	}
	t.st.Phase = state.PhaseRemoved
	t.st.Docker, t.st.Vault, t.st.Faults = nil, nil, nil
	return t.d.cfg.Store.Save(t.st, t.d.cfg.now())
}

func (t *teardown) removeState(ctx context.Context) error {
	if err := t.d.keepKeyedState(ctx, t.appr, t.rt, t.st); err != nil {
		return err
	}
	if err := t.d.cfg.Store.Remove(t.d.DownOptions.Name); err != nil {
		return fmt.Errorf("remove state: %w", err)
	}
	// The lock made the dir; only a state that existed counts as removed.
	t.res.StateRemoved = t.st != nil || t.corrupt
	return nil
}
