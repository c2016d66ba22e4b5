package sandbox

import (
	"errors"
	"testing"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// After a vault-upgrade, an up with the config's older image would start the older
// Vault on the newer one's storage: refused.
func TestCheckVaultDowngrade(t *testing.T) {
	st := &state.State{Name: "demo", Vault: &state.VaultState{Version: "1.21.0"}}
	st.Spec.Vault.Image = "labsbx.local/vault:1.21.0"
	spec := func(image string) config.Spec {
		var s config.Spec
		s.Vault.Image = image
		return s
	}
	for image, refused := range map[string]bool{
		"labsbx.local/vault:1.21.0":  false, // the image it runs
		"labsbx.local/vault:1.20.4":  true,
		"labsbx.local/vault:v1.20.4": true,
		"hashicorp/vault:1.21.1":     false,
		"labsbx.local/vault:latest":  false, // no version in the tag: not judged
		"localhost:5000/vault":       false,
	} {
		err := checkVaultDowngrade(spec(image), st)
		if got := errors.Is(err, ErrVaultDowngrade); got != refused {
			t.Errorf("%s: refused %v (%v), want %v", image, got, err, refused)
		}
	}
	if err := checkVaultDowngrade(spec("labsbx.local/vault:1.20.4"), &state.State{}); err != nil {
		t.Errorf("a sandbox whose Vault never reported a version: %v", err)
	}
}
