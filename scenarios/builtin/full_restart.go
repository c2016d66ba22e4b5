package builtin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios"
)

// fullRestart: every component is power-cycled. Vault comes back sealed; recovery must
// follow production's order: Postgres up, then Vault up (sealed), then unseal, then
// credentials, then the consumer.
//
// On the full profile the power cycle is k3d's stop and start of the whole cluster.
// k3d stops the nodes one after another, each gracefully (Docker's stop: SIGTERM,
// then SIGKILL after a grace period), so this is a power *cycle*, not a power cut:
// Postgres and Vault get to shut down cleanly.
type fullRestart struct {
	// loginSeen is when verify first saw each new VSO client ID ("<app> <client ID>"):
	// a polled state has no time of its own.
	loginSeen map[string]time.Time
}

func NewFullRestart() scenarios.Scenario { return &fullRestart{} }

var _ scenarios.Reviver = (*fullRestart)(nil)

// AppOutcome: on the full profile the power cycle restarts VSO too. With the chart's
// default client cache (in memory), a restarted VSO logs in to Vault afresh and then
// rotates every app: new lease, new Secret, rollout-restart
// (sync_reason="VaultTokenRotated"). A full restart therefore means "rotated" there.
// (The vault profile has no apps, and no use for the outcome.)
func (*fullRestart) AppOutcome() scenarios.AppOutcome { return scenarios.AppRotated }

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
	// msVSOLoggedIn: VSO logged in to Vault again after the unseal (its pod restarted
	// with the cluster, and a sealed Vault refuses logins). The evidence, earliest
	// first: a new Vault client ID in the VaultDynamicSecret's status, or anything VSO
	// can only do logged in (a sync or a renewal).
	msVSOLoggedIn = "vso logged in again"
	// msVSOSynced: VSO's first real sync or lease renewal after the unseal: a
	// SecretSynced or SecretRotated Event, a "Renewed lease" one, or a newer
	// status.lastRenewalTime. A restarted VSO also records a Normal SecretLeaseRenewal
	// "Not in renewal window…" without renewing or syncing anything: that one does not
	// count.
	msVSOSynced = "vso synced"
	// msAppsReady: every app's pods Ready on the rotated credentials (VSO restarted the
	// Deployments after its sync).
	msAppsReady = "apps ready"
)

var clusterRecoveryOrder = []string{msClusterStarted, msPostgresUp, msVaultSealed, msUnsealed, msVSOLoggedIn, msVSOSynced, msAppsReady}

// clusterWait bounds how long Postgres may take to answer after the cluster started.
const clusterWait = 5 * time.Minute

func (*fullRestart) Name() string { return "full-restart" }

func (*fullRestart) Description() string {
	return "every component is stopped and started (a power cycle): Vault comes back sealed and nothing that needs a secret works until unseal; " +
		"with VSO (full profile), every app then gets new credentials and a rollout"
}
func (*fullRestart) Runbook(e *scenarios.Env) string {
	return "labsbx vault unseal --name " + e.State.Name
}

func (*fullRestart) Steady(ctx context.Context, e *scenarios.Env) error { return e.Consumer.Works(ctx) }

func (*fullRestart) Inject(ctx context.Context, e *scenarios.Env) error {
	if e.Cluster != nil {
		return powerCycleCluster(ctx, e)
	}
	for _, c := range []string{connect.ComponentVault, connect.ComponentPostgres} {
		if err := e.Docker.Stop(ctx, c, 10*time.Second); err != nil {
			return err
		}
	}
	// Production's recovery order: Postgres up and ready, then Vault.
	_, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, e.Mark)
	return err
}

func (*fullRestart) Observe(ctx context.Context, e *scenarios.Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return fmt.Errorf("Vault does not answer yet: %w", err)
	}
	if !st.Sealed {
		return errors.New("Vault came back unsealed")
	}
	e.MarkOnce(msVaultSealed)
	return scenarios.ExpectSealed("issuing credentials", e.Consumer.Fetch(ctx))
}

func (*fullRestart) Recover(ctx context.Context, e *scenarios.Env) error {
	if _, err := e.Vault.Unseal(ctx); err != nil {
		return err
	}
	e.MarkOnce(msUnsealed)
	return nil
}

func (f *fullRestart) Verify(ctx context.Context, e *scenarios.Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	if st.Sealed {
		return errors.New("Vault is still sealed")
	}
	e.MarkOnce(msUnsealed) // when a person unsealed it (--manual)
	if err := e.Consumer.Fetch(ctx); err != nil {
		return err
	}
	e.MarkOnce(msCredsIssued)
	if err := e.Consumer.Connect(ctx); err != nil {
		return err
	}
	e.MarkOnce(msConsumerConn)
	if e.Cluster != nil {
		if err := f.appsBackAfterRestart(ctx, e); err != nil {
			return err
		}
		return checkOrder(e.Milestones(), clusterRecoveryOrder)
	}
	return checkOrder(e.Milestones(), recoveryOrder)
}

// powerCycleCluster stops the k3d cluster's nodes (k3d: one by one, gracefully) and
// starts them again (full profile), then waits for Postgres first, as production
// recovers.
func powerCycleCluster(ctx context.Context, e *scenarios.Env) error {
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

// appsBackAfterRestart requires, for every app, that VSO logged in to Vault again and
// synced or renewed after the unseal, that it rotated the app (a restarted VSO always
// does), and that the app's pods are Ready on the new credentials; it then marks when
// (VSO's Event times have second precision: one in the second of the unseal counts
// from the unseal). Milestones are marked only once every app is back, at the latest
// app's times.
func (f *fullRestart) appsBackAfterRestart(ctx context.Context, e *scenarios.Env) error {
	if e.Apps == nil {
		return errors.New("no view of the apps (VSO) on this sandbox")
	}
	unsealed, started := e.MilestoneAt(msUnsealed), e.MilestoneAt(msClusterStarted)
	var loggedIn, synced, ready time.Time
	for _, app := range e.State.Spec.Apps {
		s, err := e.Apps.State(ctx, app)
		if err != nil {
			return err
		}
		events, err := e.Apps.Events(ctx, app, unsealed)
		if err != nil {
			return err
		}
		before := e.AppsBefore()[app]
		var sync time.Time
		for _, ev := range events {
			if t := ev.FirstSince(unsealed); ev.SyncedOrRenewed() && (sync.IsZero() || t.Before(sync)) {
				sync = t
			}
		}
		if !s.LastRenewal.Before(unsealed.Truncate(time.Second)) && (sync.IsZero() || s.LastRenewal.Before(sync)) {
			sync = s.LastRenewal
		}
		// A sync needs a login; a new client ID shows one even without a sync.
		login := sync
		if before.VaultClientID != "" && s.VaultClientID != "" && s.VaultClientID != before.VaultClientID {
			if seen := f.firstSeen(app+" "+s.VaultClientID, e.Now()); login.IsZero() || seen.Before(login) {
				login = seen
			}
		}
		switch {
		case login.IsZero():
			return fmt.Errorf("app %s: VSO has not logged in to Vault again since the unseal", app)
		case sync.IsZero():
			return fmt.Errorf("app %s: VSO logged in again but has not synced or renewed its credentials since the unseal", app)
		case s.LeaseID == "" || s.SecretUser == "":
			return fmt.Errorf("app %s: Secret %s holds no credentials", app, vso.SecretName(app))
		}
		if err := vso.Rotated(before, s); err != nil {
			return fmt.Errorf("a restarted VSO logs in afresh and rotates every app; %w", err)
		}
		if s.PodsReadySince.IsZero() || s.PodsReadySince.Before(started.Truncate(time.Second)) {
			return fmt.Errorf("app %s: its pods are not Ready again since the cluster restart (%s)", app, s.Rollout)
		}
		loggedIn, synced, ready = later(loggedIn, later(login, unsealed)), later(synced, later(sync, unsealed)), later(ready, s.PodsReadySince)
	}
	e.MarkOnceAt(msVSOLoggedIn, loggedIn)
	e.MarkOnceAt(msVSOSynced, synced)
	e.MarkOnceAt(msAppsReady, later(ready, started))
	return nil
}

// firstSeen records when a new VSO client ID was first seen, and returns it.
func (f *fullRestart) firstSeen(appClient string, now time.Time) time.Time {
	if t, ok := f.loginSeen[appClient]; ok {
		return t
	}
	if f.loginSeen == nil {
		f.loginSeen = map[string]time.Time{}
	}
	f.loginSeen[appClient] = now
	return now
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkOrder requires every milestone of want, each no earlier than the one before.
func checkOrder(got []scenarios.Milestone, want []string) error {
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

func (*fullRestart) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	if e.Cluster != nil {
		// Starting a running cluster starts nothing: safe whatever the fault left.
		if err := e.Cluster.Start(ctx); err != nil {
			return "", err
		}
		// Back means as after a drill's own recovery, so that the next drill's steady
		// state holds: Postgres answering, Vault unsealed, and every app healthy
		// again (VSO logs in afresh after the unseal and rotates them).
		wctx, cancel := context.WithTimeout(ctx, clusterWait)
		defer cancel()
		if err := postgres.WaitReady(wctx, e.PGAdmin, 500*time.Millisecond); err != nil {
			return "", fmt.Errorf("Postgres after the cluster start: %w", err)
		}
		msg, err := seal{}.Undo(ctx, e)
		if err != nil {
			return "", err
		}
		if e.Apps != nil {
			if err := wait.Poll(wctx, wait.Options{Interval: time.Second, TryTimeout: 30 * time.Second}, func(ctx context.Context) error { _, err := e.AppStates(ctx); return err }); err != nil {
				return "", fmt.Errorf("the apps after the cluster start: %w", err)
			}
			msg += "; the apps are healthy again"
		}
		return "started the k3d cluster; " + msg, nil
	}
	did, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil)
	if err != nil {
		return "", err
	}
	msg, err := seal{}.Undo(ctx, e)
	if err != nil {
		return "", err
	}
	return strings.Join(append(did, msg), "; "), nil
}

// Revive: an interrupted full restart can leave the components stopped, or still
// stopping when `drill recover` runs. On the full profile they are pods: the k3d
// cluster is power-cycled to the end (stopped, then started). On
// the vault profile they are containers: whichever is stopped is started, Postgres
// first, before each try to open Vault.
func (*fullRestart) Revive(ctx context.Context, cfg *sandbox.Configuration, conn *connect.Conn) (func(context.Context) ([]string, error), error) {
	st := conn.State()
	rt, err := conn.Docker(ctx)
	if err != nil {
		return nil, err
	}
	sec, err := st.PostgresSecrets()
	if err != nil {
		return nil, err
	}
	pgAdmin, err := conn.PostgresAdmin(sec)
	if err != nil {
		return nil, err
	}
	if st.Profile == config.ProfileFull {
		power, err := scenarios.NewClusterPower(cfg, st)
		if err != nil {
			return nil, err
		}
		// The interrupted inject may have asked Docker to stop the nodes: a node whose
		// stop is under way still shows as running, so a start now would start
		// nothing, and the stop would then finish under the recovered sandbox. The
		// restart is finished instead: a stop waits for one under way (and leaves a
		// stopped node as it is), then the cluster starts.
		// Every reviver is asked whatever the faults: only a full restart's own fault
		// is finished this way, any other leaves a running cluster running.
		if slices.ContainsFunc(st.Faults, func(f state.Fault) bool { return f.Scenario == (*fullRestart)(nil).Name() }) {
			if err := power.Stop(ctx); err != nil {
				return nil, err
			}
		}
		return nil, power.Start(ctx)
	}
	return func(ctx context.Context) ([]string, error) {
		return StartStopped(ctx, st, rt, pgAdmin, nil)
	}, nil
}

// StartStopped starts whichever of Postgres and Vault is stopped, Postgres first and
// ready before Vault starts, and says what it did.
func StartStopped(ctx context.Context, st *state.State, rt *docker.Runtime, pg postgres.Endpoint, mark func(string)) ([]string, error) {
	var did []string
	for _, c := range []string{connect.ComponentPostgres, connect.ComponentVault} {
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
		if c == connect.ComponentPostgres {
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
