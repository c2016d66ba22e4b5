package bringup

import (
	"context"
	"fmt"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// ChangeVaultImage puts the vault profile's Vault on another image, as an operator
// upgrades it: the state records the image first (so that an interrupted change
// converges on it), then the container is stopped cleanly and made again on the same
// data volume, address and configuration. The new Vault starts sealed; the caller
// unseals it. Rolling back is the same call with the older image, on storage the
// older Vault can read (Vault does not support downgrades of its storage: a rollback
// restores the pre-change backup first, RestoreVault). The caller holds the sandbox
// lock and passes the state it holds.
func ChangeVaultImage(ctx context.Context, cfg *Config, st *state.State, image string) ([]string, error) {
	if st.Profile != config.ProfileVault {
		return nil, fmt.Errorf("changing Vault's image as a container is built for the vault profile; sandbox %q has the %s profile", st.Name, st.Profile)
	}
	res := &Result{}
	p, err := New(cfg, st, nil, res)
	if err != nil {
		return nil, err
	}
	defer p.conn.Close()
	if err := dockerEngine(ctx, p); err != nil {
		return res.Changes, err
	}
	// Only a local image: a change must not wait on (or be steered by) a registry.
	if _, ok, err := p.rt.ImageID(ctx, image); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("image %s is not on this machine; build or load it first", image)
		}
		return res.Changes, err
	}
	if st.Spec.Vault.Image != image {
		st.Spec.Vault.Image = image
		if err := cfg.Store.Save(st, cfg.now()); err != nil {
			return res.Changes, err
		}
	}
	if err := vaultStep(ctx, p); err != nil {
		return res.Changes, err
	}
	return res.Changes, cfg.Store.Save(st, cfg.now())
}

// VaultConfigFile is the vault profile's Vault configuration inside its container,
// copied in before it first starts: a container without it was never finished.
const VaultConfigFile = vaultConfigPath
