package builtin

import (
	"context"
	"errors"
	"fmt"

	"github.com/arcodange/labsbx/scenarios"
)

// seal: Vault is sealed. Nothing that needs a secret works until a person unseals it
// with the sandbox's key.
type seal struct{}

func NewSeal() scenarios.Scenario { return seal{} }

func (seal) Name() string { return "seal" }
func (seal) Description() string {
	return "Vault is sealed: credentials cannot be issued or renewed and logins fail until it is unsealed"
}
func (seal) Runbook(e *scenarios.Env) string { return "labsbx vault unseal --name " + e.State.Name }

func (seal) Steady(ctx context.Context, e *scenarios.Env) error {
	if err := e.Consumer.Works(ctx); err != nil {
		return err
	}
	return e.Consumer.Renew(ctx)
}

func (seal) Inject(ctx context.Context, e *scenarios.Env) error { return e.Vault.Seal(ctx) }

func (seal) Observe(ctx context.Context, e *scenarios.Env) error {
	return errors.Join(
		scenarios.ExpectSealed("issuing credentials", e.Consumer.Fetch(ctx)),
		scenarios.ExpectSealed("renewing the lease", e.Consumer.Renew(ctx)),
		scenarios.ExpectSealed("logging in", e.Consumer.Login(ctx)),
	)
}

func (seal) Recover(ctx context.Context, e *scenarios.Env) error {
	_, err := e.Vault.Unseal(ctx)
	return err
}

func (seal) Verify(ctx context.Context, e *scenarios.Env) error {
	if err := sameVaultUnsealed(ctx, e); err != nil {
		return err
	}
	if err := e.Consumer.Login(ctx); err != nil {
		return err
	}
	return e.Consumer.Works(ctx)
}

func (seal) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return "", err
	}
	if !st.Sealed {
		return "Vault is already unsealed", nil
	}
	if _, err := e.Vault.Unseal(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("unsealed Vault at %s with the sandbox key", st.Addr), nil
}

// sameVaultUnsealed: Vault is unsealed, and it is the same Vault as before (the guard
// compares its cluster_id with the recorded one).
func sameVaultUnsealed(ctx context.Context, e *scenarios.Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	if st.Sealed {
		return errors.New("Vault is still sealed")
	}
	return e.Vault.Approval.VerifyClusterID(ctx)
}
