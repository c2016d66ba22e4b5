package sandbox

import (
	"context"
	"errors"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/state"
)

// removeVMs stops every VM of the sandbox, and any VM directory a crashed run left
// unrecorded, and deletes their overlays: what down does before the state goes.
func removeVMs(ctx context.Context, cfg *Configuration, st *state.State) ([]string, error) {
	m := connect.New(st, cfg.Getenv).VMs(cfg.log())
	all := append([]state.VMState(nil), st.VMs...)
	for _, o := range m.Orphans(st.VMs) {
		all = append(all, state.VMState{Name: o})
	}
	var removed []string
	var errs []error
	for i := range all {
		if err := m.Remove(ctx, &all[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, all[i].Name)
	}
	return removed, errors.Join(errs...)
}
