package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/postgres"
)

func init() { register(fullRestart{}) }

// fullRestart: every component is power-cycled. Vault comes back sealed; recovery must
// follow production's order: Postgres up, then Vault up (sealed), then unseal, then
// credentials, then the consumer.
type fullRestart struct{}

// The milestones of the recovery, in the order they must happen.
const (
	msPostgresUp   = "postgres up"
	msVaultSealed  = "vault up (sealed)"
	msUnsealed     = "vault unsealed"
	msCredsIssued  = "credentials issued"
	msConsumerConn = "consumer connected"
)

var recoveryOrder = []string{msPostgresUp, msVaultSealed, msUnsealed, msCredsIssued, msConsumerConn}

func (fullRestart) Name() string { return "full-restart" }
func (fullRestart) Description() string {
	return "every component is stopped and started: Vault comes back sealed and nothing that needs a secret works until unseal"
}
func (fullRestart) Runbook(e *Env) string { return "labsbx vault unseal --name " + e.State.Name }

func (fullRestart) Steady(ctx context.Context, e *Env) error { return e.Consumer.Works(ctx) }

func (fullRestart) Inject(ctx context.Context, e *Env) error {
	for _, c := range []string{sandbox.ComponentVault, sandbox.ComponentPostgres} {
		if err := e.Docker.Stop(ctx, c, 10*time.Second); err != nil {
			return err
		}
	}
	return startInOrder(ctx, e)
}

// startInOrder starts Postgres, waits until it accepts connections, then starts Vault:
// production's recovery order.
func startInOrder(ctx context.Context, e *Env) error {
	if err := e.Docker.Start(ctx, sandbox.ComponentPostgres); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := postgres.WaitReady(wctx, e.PGAdmin, 50*time.Millisecond); err != nil {
		return err
	}
	e.Mark(msPostgresUp)
	return e.Docker.Start(ctx, sandbox.ComponentVault)
}

func (fullRestart) Observe(ctx context.Context, e *Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return fmt.Errorf("Vault does not answer yet: %w", err)
	}
	if !st.Sealed {
		return errors.New("Vault came back unsealed")
	}
	e.markOnce(msVaultSealed)
	return expectSealed("issuing credentials", e.Consumer.Fetch(ctx))
}

func (fullRestart) Recover(ctx context.Context, e *Env) error {
	if _, err := e.Vault.Unseal(ctx); err != nil {
		return err
	}
	e.markOnce(msUnsealed)
	return nil
}

func (fullRestart) Verify(ctx context.Context, e *Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	if st.Sealed {
		return errors.New("Vault is still sealed")
	}
	e.markOnce(msUnsealed) // when a person unsealed it (--manual)
	if err := e.Consumer.Fetch(ctx); err != nil {
		return err
	}
	e.markOnce(msCredsIssued)
	if err := e.Consumer.Connect(ctx); err != nil {
		return err
	}
	e.markOnce(msConsumerConn)
	return checkOrder(e.peekMilestones(), recoveryOrder)
}

// checkOrder requires every milestone of want, each no earlier than the one before.
func checkOrder(got []Milestone, want []string) error {
	at := map[string]time.Time{}
	for _, m := range got {
		if _, ok := at[m.Name]; !ok {
			at[m.Name] = m.At
		}
	}
	var prev time.Time
	for i, name := range want {
		t, ok := at[name]
		if !ok {
			return fmt.Errorf("recovery milestone %q was not reached", name)
		}
		if i > 0 && t.Before(prev) {
			return fmt.Errorf("recovery order broken: %q came before %q (want %s)", name, want[i-1], strings.Join(want, " → "))
		}
		prev = t
	}
	return nil
}

func (fullRestart) Undo(ctx context.Context, e *Env) (string, error) {
	var did []string
	for _, c := range []string{sandbox.ComponentPostgres, sandbox.ComponentVault} {
		info, ok, err := e.Docker.Inspect(ctx, c)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("container %s is gone; run `labsbx up --name %s`", e.Docker.ObjectName(c), e.State.Name)
		}
		if !info.Running {
			if c == sandbox.ComponentPostgres {
				if err := startInOrder(ctx, e); err != nil {
					return "", err
				}
				did = append(did, "started Postgres and Vault")
				break
			}
			if err := e.Docker.Start(ctx, c); err != nil {
				return "", err
			}
			did = append(did, "started Vault")
		}
	}
	msg, err := seal{}.Undo(ctx, e)
	if err != nil {
		return "", err
	}
	return strings.Join(append(did, msg), "; "), nil
}
