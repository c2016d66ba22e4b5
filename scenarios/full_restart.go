package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/docker"
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

// Applies: the vault profile's containers. On the full profile a full restart means
// power-cycling the k3d cluster, which this scenario does not do yet.
func (fullRestart) Applies(st *sandbox.State) bool { return st.Profile == sandbox.ProfileVault }
func (fullRestart) Description() string {
	return "every component is stopped and started: Vault comes back sealed and nothing that needs a secret works until unseal"
}
func (fullRestart) Runbook(e *Env) string { return "labsbx vault unseal --name " + e.State.Name }

func (fullRestart) Steady(ctx context.Context, e *Env) error {
	if e.State.Profile != sandbox.ProfileVault {
		return fmt.Errorf("full-restart runs on the %s profile only: on the %s profile it would power-cycle the k3d cluster, which is not in this build", sandbox.ProfileVault, e.State.Profile)
	}
	return e.Consumer.Works(ctx)
}

func (fullRestart) Inject(ctx context.Context, e *Env) error {
	for _, c := range []string{sandbox.ComponentVault, sandbox.ComponentPostgres} {
		if err := e.Docker.Stop(ctx, c, 10*time.Second); err != nil {
			return err
		}
	}
	// Production's recovery order: Postgres up and ready, then Vault.
	_, err := startStopped(ctx, e.State, e.Docker, e.PGAdmin, e.Mark)
	return err
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
	did, err := startStopped(ctx, e.State, e.Docker, e.PGAdmin, nil)
	if err != nil {
		return "", err
	}
	msg, err := seal{}.Undo(ctx, e)
	if err != nil {
		return "", err
	}
	return strings.Join(append(did, msg), "; "), nil
}

// startStopped starts whichever of Postgres and Vault is stopped, Postgres first and
// ready before Vault starts, and says what it did.
func startStopped(ctx context.Context, st *sandbox.State, rt *docker.Runtime, pg postgres.Endpoint, mark func(string)) ([]string, error) {
	var did []string
	for _, c := range []string{sandbox.ComponentPostgres, sandbox.ComponentVault} {
		info, ok, err := rt.Inspect(ctx, c)
		if err != nil {
			return did, err
		}
		if !ok {
			return did, fmt.Errorf("container %s is gone; run `labsbx up --name %s`", rt.ObjectName(c), st.Name)
		}
		if info.Running {
			continue
		}
		if err := rt.Start(ctx, c); err != nil {
			return did, err
		}
		did = append(did, "started "+rt.ObjectName(c))
		if c == sandbox.ComponentPostgres {
			wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			err := postgres.WaitReady(wctx, pg, 50*time.Millisecond)
			cancel()
			if err != nil {
				return did, err
			}
			if mark != nil {
				mark(msPostgresUp)
			}
		}
	}
	return did, nil
}
