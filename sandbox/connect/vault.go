package connect

import (
	"context"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// VaultSession is an approved connection to a sandbox's Vault. The address and
// cluster_id come only from the state, and every connection, sealed or not, opens only
// while Docker shows the recorded, labelled container (or k3d server node) publishing
// the recorded port on the recorded engine: cluster_id is public, so an impostor on the
// port could quote it. A sealed Vault cannot report its cluster_id: the guard approves
// it pending, and Unseal verifies it. Its client holds the root token only when Root
// was asked for.
type VaultSession struct {
	State    *state.State
	Client   *api.Client
	Approval guard.VaultApproval
	Keys     *vault.Keys
}

// NewClient is another client of the same approved Vault, holding token.
func (v *VaultSession) NewClient(token string) (*api.Client, error) {
	c, err := v.Approval.Client()
	if err != nil {
		return nil, err
	}
	c.SetMaxRetries(0)
	c.SetToken(token)
	return c, nil
}

// Root puts the root token on the session's client.
func (v *VaultSession) Root() *api.Client {
	v.Client.SetToken(v.Keys.RootToken)
	return v.Client
}

// Unseal unseals with the sandbox key, then checks that the Vault that opened is the one
// labsbx initialised.
func (v *VaultSession) Unseal(ctx context.Context) (vault.Status, error) {
	st, err := vault.Unseal(ctx, v.Client, v.Keys)
	if err != nil {
		return st, err
	}
	if err := v.Approval.VerifyClusterID(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// Seal seals the sandbox's Vault.
func (v *VaultSession) Seal(ctx context.Context) error { return vault.Seal(ctx, v.Root()) }

// Status reads the seal status.
func (v *VaultSession) Status(ctx context.Context) (vault.Status, error) {
	return vault.GetStatus(ctx, v.Client)
}
