package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/scenarios"
)

// brokenRotation: what Vault needs to mint credentials is broken in the database, so
// new credentials fail while existing leases live on. Two variants:
//   - grant: Vault's Postgres admin loses CREATEROLE. That blocks renewal too (Vault
//     renews a Postgres lease with ALTER ROLE … VALID UNTIL, which needs CREATEROLE):
//     existing leases live only to their TTL, and VSO, failing to renew, can neither
//     renew nor replace them until the grant is back;
//   - role:  <app>_role, which every dynamic user is granted, is dropped.
type brokenRotation struct{ variant string }

// NewBrokenRotation is the factory of one variant; the catalogue groups both as
// `broken-rotation`.
func NewBrokenRotation(variant string) scenarios.Factory {
	return func() scenarios.Scenario { return brokenRotation{variant: variant} }
}

func (b brokenRotation) Name() string { return "broken-rotation/" + b.variant }

func (b brokenRotation) Description() string {
	if b.variant == "grant" {
		return "Vault's Postgres admin loses the right to create roles: issuing credentials fails until the grant is repaired"
	}
	return "the app's group role <app>_role is dropped: issuing credentials fails until the role is recreated"
}

func (b brokenRotation) Runbook(e *scenarios.Env) string {
	if b.variant == "grant" {
		return fmt.Sprintf("psql -c 'ALTER ROLE %s CREATEROLE'  # with the endpoint of labsbx env --name %s", postgres.VaultAdmin, e.State.Name)
	}
	app := e.Consumer.App
	return fmt.Sprintf("psql -c 'CREATE ROLE %s NOLOGIN; ALTER SCHEMA %s OWNER TO %s; GRANT %s TO %s WITH ADMIN OPTION'  # or: labsbx up --name %s",
		postgres.AppRole(app), app, postgres.AppRole(app), postgres.AppRole(app), postgres.VaultAdmin, e.State.Name)
}

func (b brokenRotation) Steady(ctx context.Context, e *scenarios.Env) error {
	if err := e.Consumer.Works(ctx); err != nil {
		return err
	}
	return e.Consumer.Renew(ctx)
}

func (b brokenRotation) Inject(ctx context.Context, e *scenarios.Env) error {
	return e.Admin(ctx, func(c *pgx.Conn) error {
		if b.variant == "grant" {
			_, err := c.Exec(ctx, `ALTER ROLE `+postgres.Ident(postgres.VaultAdmin)+` NOCREATEROLE`)
			return err
		}
		return postgres.DropAppRole(ctx, c, e.Consumer.App)
	})
}

// The database's own error text, as Vault passes it on.
func (b brokenRotation) symptom(app string) string {
	if b.variant == "grant" {
		return "permission denied to create role"
	}
	return fmt.Sprintf("role %q does not exist", postgres.AppRole(app))
}

func (b brokenRotation) Observe(ctx context.Context, e *scenarios.Env) error {
	prev := *e.Consumer
	err := e.Consumer.Fetch(ctx)
	if err == nil {
		// Keep the lease from before the fault: verify renews it.
		*e.Consumer = prev
		return errors.New("credentials are still issued")
	}
	if !strings.Contains(err.Error(), b.symptom(e.Consumer.App)) {
		return fmt.Errorf("issuing fails, but without the database's error %q: %w", b.symptom(e.Consumer.App), err)
	}
	if b.variant == "grant" {
		err := e.Consumer.Renew(ctx)
		if err == nil {
			return errors.New("issuing fails, but the existing lease still renews without CREATEROLE")
		}
		if !strings.Contains(err.Error(), "permission denied") {
			return fmt.Errorf("renewing fails, but without the database's error: %w", err)
		}
		e.MarkOnce(msRenewalBlocked)
	}
	return nil
}

// msRenewalBlocked: without CREATEROLE, leases cannot be renewed either.
const msRenewalBlocked = "renewing the existing lease fails too: it lives only to its TTL"

func (b brokenRotation) Recover(ctx context.Context, e *scenarios.Env) error {
	_, err := b.repair(ctx, e)
	return err
}

func (b brokenRotation) repair(ctx context.Context, e *scenarios.Env) (bool, error) {
	sec, err := e.State.PostgresSecrets()
	if err != nil {
		return false, err
	}
	var changed bool
	err = e.Admin(ctx, func(c *pgx.Conn) error {
		a, err := postgres.EnsureVaultAdmin(ctx, c, sec.VaultAdminPassword)
		if err != nil {
			return err
		}
		r, err := postgres.EnsureApp(ctx, c, e.Consumer.App)
		changed = a || r
		return err
	})
	return changed, err
}

func (b brokenRotation) Verify(ctx context.Context, e *scenarios.Env) error {
	old := *e.Consumer
	// Existing leases still renew...
	if err := old.Renew(ctx); err != nil {
		return fmt.Errorf("the lease from before the fault does not renew: %w", err)
	}
	// ...and new credentials are issued and connect.
	return e.Consumer.Works(ctx)
}

func (b brokenRotation) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	changed, err := b.repair(ctx, e)
	if err != nil {
		return "", err
	}
	if !changed {
		return "the database grants and roles were already in place", nil
	}
	return fmt.Sprintf("restored %s's CREATEROLE and %s with its schema", postgres.VaultAdmin, postgres.AppRole(e.Consumer.App)), nil
}
