package builtin

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios"
)

// lostLease: the app's database lease is revoked. Its Postgres user is dropped, and the
// app must get new credentials, as VSO does.
//
// On the full profile VSO notices only when it next tries to renew the lease (67 % of
// its duration after the last renewal, plus jitter: 42–46 s into a 60 s lease, so 17
// and 33 s after the fault were measured). It records no warning for a lease that is
// not found: the first trace is SecretRotated with sync_reason="SecretLeaseRenewalError",
// then RolloutRestartTriggered. Verify waits for that window (Drill.verifyTimeout), and
// the report marks when the window opens.
type lostLease struct{}

func NewLostLease() scenarios.Scenario { return lostLease{} }

func (lostLease) Name() string { return "lost-lease" }

// AppOutcome: the revoked credentials are dead, so on the full profile VSO must have
// issued new ones and restarted the app.
func (lostLease) AppOutcome() scenarios.AppOutcome { return scenarios.AppRotated }
func (lostLease) Description() string {
	return "the app's database lease is revoked: its Postgres user is gone until new credentials are issued"
}
func (lostLease) Runbook(e *scenarios.Env) string {
	return fmt.Sprintf("eval \"$(labsbx env --name %s)\" && vault read %s  # the app fetches new credentials, as VSO does",
		e.State.Name, "postgres/creds/"+e.Consumer.App)
}

func (lostLease) Steady(ctx context.Context, e *scenarios.Env) error { return e.Consumer.Works(ctx) }

func (lostLease) Inject(ctx context.Context, e *scenarios.Env) error {
	if err := e.Vault.Root().Sys().RevokeWithContext(ctx, e.Consumer.Lease); err != nil {
		return err
	}
	// The full profile: the leases VSO holds for the apps go too, so that VSO has to
	// notice (at its next renewal) and bring new credentials and a rollout.
	for _, app := range e.State.Spec.Apps {
		before := e.AppsBefore()[app]
		if e.Apps == nil || before.LeaseID == "" {
			continue
		}
		if err := e.Vault.Root().Sys().RevokeWithContext(ctx, before.LeaseID); err != nil {
			return fmt.Errorf("revoke app %s's lease: %w", app, err)
		}
		if from, _, ok := vso.RenewalWindow(before); ok && from.After(e.Now()) {
			e.MarkAt(app+": VSO's renewal window opens (expected; it notices the revoked lease from then on)", from)
		}
	}
	return nil
}

func (lostLease) Observe(ctx context.Context, e *scenarios.Env) error {
	var exists bool
	err := e.Admin(ctx, func(c *pgx.Conn) error {
		var err error
		exists, err = postgres.RoleExists(ctx, c, e.Consumer.User)
		return err
	})
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("Postgres user %s still exists", e.Consumer.User)
	}
	if err := e.Consumer.Connect(ctx); err == nil {
		return errors.New("the revoked credentials still connect")
	} else if !postgres.IsAuthFailure(err) {
		return fmt.Errorf("the revoked credentials fail, but not with an authentication error: %w", err)
	}
	return nil
}

func (lostLease) Recover(ctx context.Context, e *scenarios.Env) error { return e.Consumer.Fetch(ctx) }

func (lostLease) Verify(ctx context.Context, e *scenarios.Env) error { return e.Consumer.Works(ctx) }

func (lostLease) Undo(context.Context, *scenarios.Env) (string, error) {
	return "nothing to restore: a revoked lease stays revoked, and new credentials are issued on demand", nil
}
