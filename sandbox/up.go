package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
)

// UpOptions are the knobs of one `labsbx up`.
type UpOptions struct {
	Name   string
	Config *config.Config
	// Profile overrides spec.profile when set (--profile).
	Profile string
	// VMs overrides spec.vms.count when set (--vms). Without it, an existing sandbox
	// keeps the VM count it has, unless the config asks for VMs itself.
	VMs *int
	// Bundle is an offline bundle directory (`up --bundle`): images come from it,
	// never from a registry.
	Bundle string
	// MergeKubeconfig, when set, is the kubeconfig to merge the cluster's context into
	// once it is up (--merge-kubeconfig); SwitchContext also makes it current.
	MergeKubeconfig string
	SwitchContext   bool
}

// UpResult is what `labsbx up` prints.
type UpResult struct {
	Name       string               `json:"name"`
	UUID       string               `json:"uuid"`
	Profile    string               `json:"profile"`
	VaultAddr  string               `json:"vaultAddr"`
	Postgres   string               `json:"postgres"`
	Apps       []string             `json:"apps"`
	Resumed    bool                 `json:"resumed"`
	VMs        []bringup.VMSummary  `json:"vms,omitempty"`
	Changes    []string             `json:"changes"`
	Steps      []bringup.StepTiming `json:"steps"`
	Duration   time.Duration        `json:"-"`
	DurationMs int64                `json:"durationMs"`
	StateDir   string               `json:"stateDir"`
}

// Up brings a sandbox up, or converges one that exists. Every step is idempotent and
// recorded in the state, so that a run interrupted anywhere resumes on the next up.
type Up struct {
	cfg *Configuration
	UpOptions
}

// NewUp prepares an up.
func NewUp(cfg *Configuration, opts UpOptions) *Up { return &Up{cfg: cfg, UpOptions: opts} }

// ErrProfileUnavailable is returned for a profile this build cannot bring up yet.
var ErrProfileUnavailable = errors.New("profile not available")

// Run executes the bring-up.
func (u *Up) Run(ctx context.Context) (*UpResult, error) {
	start := u.cfg.now()
	spec, err := u.UpOptions.effectiveSpec()
	if err != nil {
		return nil, err
	}
	if u.UpOptions.MergeKubeconfig != "" && spec.Profile == config.ProfileVault {
		return nil, fmt.Errorf("--merge-kubeconfig: the %s profile has no cluster (Vault and Postgres run as containers; use `labsbx env`)", config.ProfileVault)
	}
	if spec.Profile == config.ProfileFull && u.cfg.Clusters == nil {
		return nil, fmt.Errorf("%w: profile %q needs a cluster provider (k3d), which this build lacks; use --profile vault", ErrProfileUnavailable, spec.Profile)
	}
	var bdl *bundle.Bundle
	if u.UpOptions.Bundle != "" {
		o := u.UpOptions
		o.Profile = spec.Profile
		if bdl, err = openBundle(u.cfg.Getenv, o); err != nil {
			return nil, err
		}
	}
	u.cfg.registerRoot()
	// What up needs of this machine, checked before anything is written, with fixes.
	if _, err := NewDoctor(u.cfg, u.UpOptions).preflight(ctx); err != nil {
		return nil, err
	}
	// The guard approves the Docker engine before anything is written.
	if _, err := guard.ApproveDocker(u.cfg.Getenv); err != nil {
		return nil, err
	}
	lock, err := u.cfg.Store.Lock(u.UpOptions.Name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()

	st, err := u.cfg.Store.Load(u.UpOptions.Name)
	resumed := err == nil
	if resumed {
		spec = u.UpOptions.onSandbox(spec, st)
		if err := checkVaultDowngrade(spec, st); err != nil {
			return nil, err
		}
	}
	switch {
	case errors.Is(err, state.ErrNotFound):
		st = u.cfg.Store.New(u.UpOptions.Name, spec, u.cfg.now())
	case err != nil:
		return nil, err
	case st.Phase == state.PhaseDeleting:
		return nil, fmt.Errorf("sandbox %q was being removed by a `labsbx down` that did not finish; run `labsbx down --name %s` to finish it, then `labsbx up --name %s`", st.Name, st.Name, st.Name)
	case st.Profile != spec.Profile:
		return nil, fmt.Errorf("sandbox %q exists with profile %q; run `labsbx down --name %s` first to change it to %q", st.Name, st.Profile, st.Name, spec.Profile)
	}
	if err := st.Preflight(ctx); err != nil {
		return nil, err
	}
	if st.Phase == state.PhaseReady {
		st.Phase = state.PhaseCreating
	}
	st.Spec = spec
	if err := u.cfg.Store.Save(st, u.cfg.now()); err != nil {
		return nil, err
	}
	res := &UpResult{Name: st.Name, UUID: st.UUID, Profile: st.Profile, Apps: spec.Apps, Resumed: resumed, StateDir: st.Dir()}
	var done bringup.Result
	run, err := bringup.New(u.cfg.bringup(), st, bdl, &done)
	if err == nil {
		err = bringup.Run(ctx, run, bringup.Steps(st.Name, st.Spec, len(st.VMs) > 0))
	}
	res.VaultAddr, res.Postgres, res.VMs, res.Changes, res.Steps = done.VaultAddr, done.Postgres, done.VMs, done.Changes, done.Steps
	if err == nil && u.UpOptions.MergeKubeconfig != "" {
		err = u.cfg.progress().Step("Merging context "+guard.ContextName(st.Name)+" into "+u.UpOptions.MergeKubeconfig, func() error {
			m, err := u.cfg.merge(st, u.UpOptions.MergeKubeconfig, u.UpOptions.SwitchContext)
			if err == nil {
				res.Changes = append(res.Changes, "merged context "+m.Context+" into "+m.Path)
			}
			return err
		})
	}
	if err != nil {
		st.Phase = state.PhaseFailed
		if errors.Is(err, context.Canceled) {
			st.Phase = state.PhaseCreating
		}
		if serr := u.cfg.Store.Save(st, u.cfg.now()); serr != nil {
			err = errors.Join(err, serr)
		}
		return res, err
	}
	// Converging restarts stopped containers, unseals Vault and repairs the database
	// roles, which undoes whatever fault an interrupted drill left behind.
	for _, f := range st.Faults {
		res.Changes = append(res.Changes, "undid the fault of interrupted drill "+f.Scenario)
	}
	st.Faults = nil
	st.Phase = state.PhaseReady
	if err := u.cfg.Store.Save(st, u.cfg.now()); err != nil {
		return res, err
	}
	res.Duration = u.cfg.now().Sub(start)
	res.DurationMs = res.Duration.Milliseconds()
	return res, nil
}
