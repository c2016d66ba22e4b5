package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// DownOptions are the knobs of one `labsbx down`.
type DownOptions struct {
	Name      string
	KeepState bool
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

// Down removes every Docker object labelled with the sandbox's name, then its state
// unless asked to keep it. It needs no state: it finds its objects by label, so running
// it twice, or on a half-made sandbox, is harmless.
type Down struct {
	cfg  *Configuration
	opts DownOptions
}

// NewDown prepares a down.
func NewDown(cfg *Configuration, opts DownOptions) *Down { return &Down{cfg: cfg, opts: opts} }

// Run executes it.
func (d *Down) Run(ctx context.Context) (*DownResult, error) {
	// The guard approves the Docker engine before anything is touched.
	appr, err := guard.ApproveDocker(d.cfg.Getenv)
	if err != nil {
		return nil, err
	}
	lock, err := d.cfg.Store.Lock(d.opts.Name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	res := &DownResult{Name: d.opts.Name}
	st, err := d.cfg.Store.Load(d.opts.Name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if st != nil {
		st.Phase = PhaseDeleting
		if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
			return nil, err
		}
	}
	uuid := ""
	if st != nil {
		uuid = st.UUID
	}
	if st != nil && (len(st.VMs) > 0 || dirExists(st.VMManager(d.cfg).VMsDir())) {
		// VMs first: they need the state (their PID files, the UUID in their command
		// line), and must be gone before it is.
		err := d.cfg.progress().Step(fmt.Sprintf("Stopping and removing %d arm64 VMs of %s", len(st.VMs), d.opts.Name), func() error {
			var err error
			res.VMs, err = removeVMs(ctx, d.cfg, st)
			return err
		})
		if err != nil {
			return res, err
		}
		st.VMs = nil
		if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
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
			prov, err := d.cfg.Clusters(appr, st.Name, st.UUID)
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
		if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
			return res, err
		}
	}
	rt, err := docker.New(appr, d.opts.Name, uuid)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	err = d.cfg.progress().Step("Removing containers, volumes and network of "+d.opts.Name, func() error {
		if err := rt.Ping(ctx); err != nil {
			return err
		}
		res.Removed, err = rt.RemoveAll(ctx)
		return err
	})
	if err != nil {
		return res, err
	}
	if d.opts.KeepState {
		if st != nil {
			st.Phase = PhaseRemoved
			st.Steps, st.Docker, st.Vault, st.Faults = nil, nil, nil, nil
			if err := d.cfg.Store.Save(st, d.cfg.now()); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	if st == nil {
		return res, d.cfg.Store.Remove(d.opts.Name)
	}
	err = d.cfg.progress().Step("Removing state of "+d.opts.Name, func() error {
		if err := d.cfg.Store.Remove(d.opts.Name); err != nil {
			return fmt.Errorf("remove state: %w", err)
		}
		// The lock made the dir; only a state that existed counts as removed.
		res.StateRemoved = st != nil
		return nil
	})
	return res, err
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
