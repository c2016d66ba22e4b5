package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	uuidpkg "github.com/google/uuid"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/connect"
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

// Run executes it.
func (d *Down) Run(ctx context.Context) (*DownResult, error) {
	// The guard approves the Docker engine before anything is touched.
	appr, err := guard.ApproveDocker(d.cfg.Getenv)
	if err != nil {
		return nil, err
	}
	if d.DownOptions.UUID != "" {
		if _, err := uuidpkg.Parse(d.DownOptions.UUID); err != nil {
			return nil, fmt.Errorf("--uuid %q is not a sandbox UUID", d.DownOptions.UUID)
		}
	}
	lock, err := d.cfg.Store.Lock(d.DownOptions.Name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	res := &DownResult{Name: d.DownOptions.Name}
	st, err := d.cfg.Store.Load(d.DownOptions.Name)
	corrupt := errors.Is(err, state.ErrCorruptState)
	switch {
	case err == nil:
	case errors.Is(err, state.ErrNotFound), corrupt:
		st = nil
	default:
		return nil, err
	}
	uuid := d.DownOptions.UUID
	if st != nil {
		if uuid != "" && uuid != st.UUID {
			return nil, fmt.Errorf("the state of sandbox %q records UUID %s; --uuid %s names another sandbox: run down with the LABSBX_HOME that made it", st.Name, st.UUID, uuid)
		}
		uuid = st.UUID
	}
	if corrupt && uuid != "" {
		// --uuid vouches for a state that cannot be read: its VMs can go too.
		st = d.cfg.Store.Stub(d.DownOptions.Name, uuid)
	}
	rt, err := docker.New(appr, d.DownOptions.Name, uuid)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	if err := rt.Ping(ctx); err != nil {
		return nil, err
	}
	if st != nil && st.EngineID != "" {
		id, err := rt.EngineID(ctx)
		if err != nil {
			return nil, err
		}
		if err := guard.ApproveEngine(st.GuardRecord(), id); err != nil {
			return nil, err
		}
	}
	if err := d.checkLostUUID(ctx, appr, st != nil && !corrupt); err != nil {
		return nil, err
	}
	if st != nil && st.Kube != nil && st.Kube.Merged != nil {
		// Judged before anything is removed: a refusal leaves the sandbox whole.
		if _, err := guard.ApproveWrite(st.Kube.Merged.Path, guard.KubeconfigFormat, d.cfg.WriteScope()); err != nil {
			return nil, err
		}
	}
	if st != nil && !corrupt {
		st.Phase = state.PhaseDeleting
		if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
			return nil, err
		}
	}
	save := func() error {
		if corrupt {
			return nil
		}
		return d.cfg.Store.Save(st, d.cfg.now())
	}
	if st != nil && (len(st.VMs) > 0 || dirExists(connect.New(st, d.cfg.Getenv).VMs(d.cfg.log()).VMsDir())) {
		// VMs first: they need the state (their PID files, the UUID in their command
		// line), and must be gone before it is.
		err := d.cfg.progress().Step(fmt.Sprintf("Stopping and removing %d arm64 VMs of %s", len(st.VMs), d.DownOptions.Name), func() error {
			var err error
			res.VMs, err = removeVMs(ctx, d.cfg, st)
			return err
		})
		if err != nil {
			return res, err
		}
		st.VMs = nil
		if err := save(); err != nil {
			return res, err
		}
	}
	if st != nil && st.Kube != nil && st.Kube.Merged != nil {
		err := d.cfg.progress().Step("Removing the sandbox's entries from "+st.Kube.Merged.Path, func() error {
			var err error
			res.Kubeconfig, err = d.cfg.unmerge(st)
			return err
		})
		if err != nil {
			return res, err
		}
	}
	if st != nil && st.Cluster != nil {
		err := d.cfg.progress().Step("Deleting k3d cluster "+st.Cluster.Name, func() error {
			if d.cfg.Clusters == nil {
				return fmt.Errorf("%w: this build cannot remove k3d cluster %s", ErrProfileUnavailable, st.Cluster.Name)
			}
			prov, err := d.cfg.Clusters(appr, st.Name, st.UUID, cluster.HelpersOf(st.Spec.Cluster))
			if err != nil {
				return err
			}
			deleted, err := prov.Delete(ctx)
			if deleted {
				res.Cluster = st.Cluster.Name
			}
			return err
		})
		if err != nil {
			return res, err
		}
		st.Cluster, st.Kube = nil, nil
		if err := save(); err != nil {
			return res, err
		}
	}
	err = d.cfg.progress().Step("Removing containers, volumes and network of "+d.DownOptions.Name, func() error {
		res.Removed, err = rt.RemoveAll(ctx)
		return err
	})
	if err != nil {
		return res, err
	}
	for _, l := range res.Removed.LeftAlone {
		d.cfg.progress().Infof("Left alone: %s", strings.TrimPrefix(l, "refused: "))
	}
	d.explainLeftAlone(ctx, rt)
	if corrupt && uuid == "" {
		// Nothing proves whose the objects are: keep the state, and say how to finish.
		if len(res.Removed.LeftAlone) > 0 {
			return res, fmt.Errorf("%w: the state of sandbox %q is corrupt, so nothing proves the objects listed above are its own; if they are, run `labsbx down --name %s --uuid <UUID>` with the UUID they carry", ErrLeftAlone, d.DownOptions.Name, d.DownOptions.Name)
		}
	}
	if d.DownOptions.KeepState {
		if st != nil && !corrupt {
			st.Phase = state.PhaseRemoved
			st.Docker, st.Vault, st.Faults = nil, nil, nil
			if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	if err := d.keepKeyedState(ctx, appr, rt, st); err != nil {
		return res, err
	}
	err = d.cfg.progress().Step("Removing state of "+d.DownOptions.Name, func() error {
		if err := d.cfg.Store.Remove(d.DownOptions.Name); err != nil {
			return fmt.Errorf("remove state: %w", err)
		}
		// The lock made the dir; only a state that existed counts as removed.
		res.StateRemoved = st != nil || corrupt
		return nil
	})
	return res, err
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
