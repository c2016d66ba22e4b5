package sandbox

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// GuardCheck asks the guard whether targets belong to the sandbox Name, and reports
// every check (`labsbx guard check`). A sandbox that does not exist recorded nothing,
// so every target is refused.
type GuardCheck struct {
	cfg     *Configuration
	Name    string
	Target  guard.Target
	Offline bool
}

// NewGuardCheck prepares a check.
func NewGuardCheck(cfg *Configuration) *GuardCheck { return &GuardCheck{cfg: cfg} }

// Run judges the targets; the error is the refusal when the report refuses.
func (c *GuardCheck) Run(ctx context.Context) (guard.Report, error) {
	t := c.Target
	t.Kubeconfig = append([]string(nil), t.Kubeconfig...)
	for i, k := range t.Kubeconfig {
		if abs, err := filepath.Abs(k); err == nil {
			t.Kubeconfig[i] = abs
		}
	}
	rec := guard.Record{Name: c.Name, StateDir: c.cfg.Store.Dir(c.Name)}
	st, err := c.cfg.Store.Load(c.Name)
	switch {
	case err == nil:
		rec = st.GuardRecord()
	case !errors.Is(err, state.ErrNotFound):
		return guard.Report{}, err
	}
	rep := guard.Check(ctx, rec, t, guard.CheckOptions{Offline: c.Offline})
	return rep, rep.Err()
}
