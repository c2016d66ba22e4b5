package bringup

import (
	"context"
	"errors"
	"fmt"

	"github.com/arcodange/labsbx/internal/failpoint"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// ErrVaultUnkeyed is returned for a Vault that was initialised but whose key labsbx
// never saved (an up killed in the instant between the two): nobody can unseal it.
var ErrVaultUnkeyed = errors.New("the sandbox's Vault was initialised, but its unseal key was never saved")

// EnsureInitialised brings the sandbox's Vault to "initialised by labsbx, cluster_id
// recorded", whatever point an interrupted up reached: a fresh Vault is initialised
// (the key saved before anything else), unsealed and recorded; an initialised one with
// no recorded cluster_id is adopted when the saved key unseals it (or the saved root
// token is root there). It says what it did ("" when nothing).
func EnsureInitialised(ctx context.Context, c *Config, conn *connect.Conn) (string, error) {
	st := conn.State()
	proof, err := conn.Receiver(connect.ComponentVault)
	if err != nil {
		return "", err
	}
	rec := st.GuardRecord()
	appr, err := guard.ApproveVaultInit(ctx, rec, st.Vault.Addr, proof)
	if errors.Is(err, guard.ErrVaultInitialised) {
		return adoptVault(ctx, c, st, proof)
	}
	if err != nil {
		return "", err
	}
	cl, err := appr.Client()
	if err != nil {
		return "", err
	}
	kp, err := st.VaultKeysPath()
	if err != nil {
		return "", err
	}
	keys, err := vault.Init(ctx, cl, kp)
	if err != nil {
		return "", err
	}
	failpoint.Hit("vault-keys-saved")
	vs, err := vault.Unseal(ctx, cl, keys)
	if err != nil {
		return "", err
	}
	failpoint.Hit("vault-unsealed")
	id, err := appr.ClusterID(ctx)
	if err != nil {
		return "", err
	}
	st.Vault.ClusterID, st.Vault.Version, st.Vault.InitAt = id, vs.Version, c.now()
	return "initialised Vault (1 key share, threshold 1) and unsealed it", c.Store.Save(st, c.now())
}

// adoptVault records the cluster_id of an initialised Vault that an interrupted up
// left unrecorded, once the guard has proven it ours with the saved key.
func adoptVault(ctx context.Context, c *Config, st *state.State, proof guard.ReceiverProof) (string, error) {
	kp, err := st.VaultKeysPath()
	if err != nil {
		return "", err
	}
	keys, err := vault.LoadKeys(kp)
	if errors.Is(err, vault.ErrNoKeys) {
		return "", fmt.Errorf("%w, so nobody can unseal it and it holds nothing; run `labsbx up --name %s`, which starts it afresh", ErrVaultUnkeyed, st.Name)
	}
	if err != nil {
		return "", err
	}
	id, err := guard.ApproveVaultAdopt(ctx, st.GuardRecord(), st.Vault.Addr, proof, keys.UnsealKeysB64, keys.RootToken)
	if err != nil {
		return "", err
	}
	st.Vault.ClusterID, st.Vault.InitAt = id, c.now()
	return "recorded the Vault that an interrupted up had initialised (its saved key unsealed it)", c.Store.Save(st, c.now())
}
