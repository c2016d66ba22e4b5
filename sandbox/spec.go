package sandbox

import (
	"fmt"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
)

// effectiveSpec is the spec `up` with these options brings up: the config's, with
// --profile and --vms. Up, its dry run (PlanUp) and the doctor all take it from here.
func (o UpOptions) effectiveSpec() (config.Spec, error) {
	if o.Config == nil {
		return config.Spec{}, config.ErrNoConfig
	}
	spec := o.Config.Spec
	if o.Profile != "" {
		if o.Profile != config.ProfileVault && o.Profile != config.ProfileFull {
			return spec, fmt.Errorf("invalid profile %q: use %q or %q", o.Profile, config.ProfileFull, config.ProfileVault)
		}
		spec.Profile = o.Profile
	}
	if n := o.VMs; n != nil {
		if *n < 0 || *n > bringup.MaxVMs {
			return spec, fmt.Errorf("--vms %d: use 0 to %d", *n, bringup.MaxVMs)
		}
		spec.VMs.Count = *n
	}
	return spec, nil
}

// onSandbox is spec as up applies it to the existing sandbox st: `up --vms N` sticks
// until `up --vms 0`, so without --vms and without VMs in the config, the sandbox
// keeps the VM count it has.
func (o UpOptions) onSandbox(spec config.Spec, st *state.State) config.Spec {
	if st != nil && o.VMs == nil && spec.VMs.Count == 0 {
		spec.VMs.Count = st.Spec.VMs.Count
	}
	return spec
}
