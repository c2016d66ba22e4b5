package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// ErrVaultDowngrade marks an up that would start an older Vault on the sandbox's
// storage than the one that runs it (after `drill run vault-upgrade`, an up with the
// config's older image).
var ErrVaultDowngrade = errors.New("Vault does not support downgrades")

// checkVaultDowngrade refuses spec when its Vault image is tagged with an older version
// than the one the sandbox's Vault reported (the state records it at init and after an
// upgrade). An image whose tag is no version is not judged.
func checkVaultDowngrade(spec config.Spec, st *state.State) error {
	if st == nil || st.Vault == nil || st.Vault.Version == "" || spec.Vault.Image == st.Spec.Vault.Image {
		return nil
	}
	want, ok := imageVersion(spec.Vault.Image)
	if !ok {
		return nil
	}
	if compareVersions(want, st.Vault.Version) >= 0 {
		return nil
	}
	return fmt.Errorf("%w: sandbox %q runs Vault %s (image %s), and image %s is Vault %s. Keep the image it runs (LABSBX_VAULT_IMAGE=%s or spec.vault.image), or start afresh with `labsbx down --name %s`",
		ErrVaultDowngrade, st.Name, st.Vault.Version, st.Spec.Vault.Image, spec.Vault.Image, want, st.Spec.Vault.Image, st.Name)
}

// imageVersion is the version an image's tag names ("labsbx.local/vault:1.20.4" ->
// "1.20.4"), when it is one.
func imageVersion(ref string) (string, bool) {
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return "", false
	}
	tag := strings.TrimPrefix(ref[i+1:], "v")
	if _, ok := versionParts(tag); !ok {
		return "", false
	}
	return tag, true
}

// versionParts reads major.minor.patch (a suffix after '-' or '+' is ignored).
func versionParts(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions is -1, 0 or 1; a version it cannot read compares equal.
func compareVersions(a, b string) int {
	pa, oka := versionParts(a)
	pb, okb := versionParts(b)
	if !oka || !okb {
		return 0
	}
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1
		case pa[i] > pb[i]:
			return 1
		}
	}
	return 0
}
