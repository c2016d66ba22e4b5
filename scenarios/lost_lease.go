package scenarios

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/arcodange/labsbx/sandbox/postgres"
)

func init() { register(lostLease{}) }

// lostLease: the app's database lease is revoked. Its Postgres user is dropped, and the
// app must get new credentials, as VSO does.
type lostLease struct{}

func (lostLease) Name() string { return "lost-lease" }

// AppOutcome: the revoked credentials are dead, so on the full profile VSO must have
// issued new ones and restarted the app.
func (lostLease) AppOutcome() AppOutcome { return AppRotated }
func (lostLease) Description() string {
	return "the app's database lease is revoked: its Postgres user is gone until new credentials are issued"
}
func (lostLease) Runbook(e *Env) string {
	return fmt.Sprintf("eval \"$(labsbx env --name %s)\" && vault read %s  # the app fetches new credentials, as VSO does",
		e.State.Name, "postgres/creds/"+e.Consumer.App)
}

func (lostLease) Steady(ctx context.Context, e *Env) error { return e.Consumer.Works(ctx) }

func (lostLease) Inject(ctx context.Context, e *Env) error {
	if err := e.Vault.Root().Sys().RevokeWithContext(ctx, e.Consumer.Lease); err != nil {
		return err
	}
	// The full profile: the leases VSO holds for the apps go too, so that VSO has to
	// notice (at its next renewal) and bring new credentials and a rollout.
	for _, app := range e.State.Spec.Apps {
		lease := e.appsBefore[app].LeaseID
		if e.Apps == nil || lease == "" {
			continue
		}
		if err := e.Vault.Root().Sys().RevokeWithContext(ctx, lease); err != nil {
			return fmt.Errorf("revoke app %s's lease: %w", app, err)
		}
	}
	return nil
}

func (lostLease) Observe(ctx context.Context, e *Env) error {
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

func (lostLease) Recover(ctx context.Context, e *Env) error { return e.Consumer.Fetch(ctx) }

func (lostLease) Verify(ctx context.Context, e *Env) error { return e.Consumer.Works(ctx) }

func (lostLease) Undo(context.Context, *Env) (string, error) {
	return "nothing to restore: a revoked lease stays revoked, and new credentials are issued on demand", nil
}
