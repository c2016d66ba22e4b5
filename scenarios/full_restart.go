package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/vso"
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

// The full profile's power cycle of the k3d cluster adds these.
const (
	msClusterStopped = "cluster stopped"
	msClusterStarted = "cluster started"
	// msVSOSynced: VSO's first successful sync or lease renewal after the unseal. VSO
	// must log in to Vault again for it (its pod restarted with the cluster), so it
	// also marks the re-authentication.
	msVSOSynced = "vso re-authenticated and synced"
	// msAppsReady: every app pod Ready again after the restart. Apps may come back
	// before the unseal (their credentials outlive a restart), so this one is timed
	// and reported, and only required after the cluster started.
	msAppsReady = "apps ready"
)

var clusterRecoveryOrder = []string{msClusterStarted, msPostgresUp, msVaultSealed, msUnsealed, msVSOSynced}

// clusterWait bounds how long Postgres may take to answer after the cluster started.
const clusterWait = 5 * time.Minute

func (fullRestart) Name() string { return "full-restart" }

func (fullRestart) Description() string {
	return "every component is stopped and started: Vault comes back sealed and nothing that needs a secret works until unseal"
}
func (fullRestart) Runbook(e *Env) string { return "labsbx vault unseal --name " + e.State.Name }

func (fullRestart) Steady(ctx context.Context, e *Env) error { return e.Consumer.Works(ctx) }

func (fullRestart) Inject(ctx context.Context, e *Env) error {
	if e.Cluster != nil {
		return powerCycleCluster(ctx, e)
	}
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
	if e.Cluster != nil {
		if err := appsBackAfterRestart(ctx, e); err != nil {
			return err
		}
		return checkOrder(e.peekMilestones(), clusterRecoveryOrder)
	}
	return checkOrder(e.peekMilestones(), recoveryOrder)
}

// powerCycleCluster stops every node of the k3d cluster at once and starts them again
// (full profile), then waits for Postgres first, as production recovers.
func powerCycleCluster(ctx context.Context, e *Env) error {
	if err := e.Cluster.Stop(ctx); err != nil {
		return err
	}
	e.Mark(msClusterStopped)
	if err := e.Cluster.Start(ctx); err != nil {
		return err
	}
	e.Mark(msClusterStarted)
	wctx, cancel := context.WithTimeout(ctx, clusterWait)
	defer cancel()
	if err := postgres.WaitReady(wctx, e.PGAdmin, 500*time.Millisecond); err != nil {
		return fmt.Errorf("Postgres after the cluster restart: %w", err)
	}
	e.Mark(msPostgresUp)
	return nil
}

// appsBackAfterRestart requires, for every app, that VSO synced or renewed its
// credentials after the unseal and that the app's pods are Ready again since the
// cluster started, and marks when (VSO's times have second precision: one in the
// second of the unseal counts from the unseal).
func appsBackAfterRestart(ctx context.Context, e *Env) error {
	if e.Apps == nil {
		return errors.New("no view of the apps (VSO) on this sandbox")
	}
	unsealed, started := e.milestoneAt(msUnsealed), e.milestoneAt(msClusterStarted)
	var synced, ready time.Time
	for _, app := range e.State.Spec.Apps {
		s, err := e.Apps.State(ctx, app)
		if err != nil {
			return err
		}
		events, err := e.Apps.Events(ctx, app, unsealed)
		if err != nil {
			return err
		}
		var back time.Time
		if ev, ok := vso.First(events, vso.ReasonSecretSynced, vso.ReasonSecretRotated, vso.ReasonSecretLeaseRenewal); ok && ev.Type == corev1.EventTypeNormal {
			back = ev.Time
		}
		if !s.LastRenewal.Before(unsealed.Truncate(time.Second)) && (back.IsZero() || s.LastRenewal.Before(back)) {
			back = s.LastRenewal
		}
		switch {
		case back.IsZero():
			return fmt.Errorf("app %s: VSO has not synced or renewed its credentials since Vault was unsealed", app)
		case s.LeaseID == "" || s.SecretUser == "":
			return fmt.Errorf("app %s: Secret %s holds no credentials", app, vso.SecretName(app))
		case !s.Ready || s.PodsReadySince.IsZero() || s.PodsReadySince.Before(started.Truncate(time.Second)):
			return fmt.Errorf("app %s: its pods are not Ready again since the cluster restart (%s)", app, s.Rollout)
		}
		synced, ready = later(synced, later(back, unsealed)), later(ready, s.PodsReadySince)
	}
	e.markOnceAt(msVSOSynced, synced)
	e.markOnceAt(msAppsReady, later(ready, started))
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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
	if e.Cluster != nil {
		// Starting a running cluster starts nothing: safe whatever the fault left.
		if err := e.Cluster.Start(ctx); err != nil {
			return "", err
		}
		msg, err := seal{}.Undo(ctx, e)
		if err != nil {
			return "", err
		}
		return "started the k3d cluster; " + msg, nil
	}
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
