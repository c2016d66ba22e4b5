package builtin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/scenariotest"
)

// TestAppsBackAfterRestart: after a cluster power cycle, every app needs VSO to have
// logged in again and synced after the unseal, to have rotated the app, and the app's
// pods Ready since the cluster started. A "Not in renewal window" renewal Event, which
// a restarted VSO records without renewing anything, does not count.
func TestAppsBackAfterRestart(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	before := map[string]vso.AppState{}
	for _, app := range []string{"webapp", "billing"} {
		b := scenariotest.HealthyApp(app, "old-"+app)
		b.VaultClientID = "client-before"
		before[app] = b
	}
	apps := scenariotest.NewApps()
	apps.Set("webapp", scenariotest.HealthyApp("webapp", "A"))
	apps.Set("billing", scenariotest.HealthyApp("billing", "B"))
	st := &state.State{Name: "t", Spec: config.DefaultSpec()}
	st.Spec.Apps = []string{"webapp", "billing"}
	e := scenarios.NewFakeEnv(st, apps, func() time.Time { return t0.Add(11 * time.Second) }, before) // the clock: when the drill polls
	e.MarkAt(msClusterStarted, t0)
	e.MarkAt(msUnsealed, t0.Add(10*time.Second))
	type back struct {
		client         string
		renewed, ready time.Time
		rotated        bool
	}
	state := func(app string, b back) vso.AppState {
		s := before[app]
		if b.rotated {
			s = scenariotest.HealthyApp(app, "new-"+app)
		}
		s.VaultClientID, s.LastRenewal, s.PodsReadySince = b.client, b.renewed, b.ready
		return s
	}
	f := &fullRestart{}
	check := func(want string) {
		t.Helper()
		err := f.appsBackAfterRestart(context.Background(), e)
		switch {
		case want == "" && err != nil:
			t.Fatal(err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("got %v, want an error about %q", err, want)
		}
	}
	notInWindow := vso.Event{Reason: vso.ReasonSecretLeaseRenewal, Type: "Normal", Time: t0.Add(11 * time.Second),
		Message: "Not in renewal window after transitioning to a new leader/pod, lease_id=postgres/creds/webapp/old-webapp, horizon=20s"}
	apps.Set("billing", state("billing", back{client: "client-b", renewed: t0.Add(12 * time.Second), ready: t0.Add(20 * time.Second), rotated: true}))

	// VSO's pod is back with the old lease: it renewed before the unseal only, and its
	// "Not in renewal window" Event is no renewal.
	apps.Set("webapp", state("webapp", back{client: "client-before", renewed: t0.Add(5 * time.Second), ready: t0.Add(3 * time.Second)}), notInWindow)
	check("app webapp: VSO has not logged in to Vault again")
	// It logged in again (a new client ID), still without a sync.
	apps.Set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(5 * time.Second), ready: t0.Add(3 * time.Second)}))
	check("app webapp: VSO logged in again but has not synced")
	// It synced, but the app is not rotated yet.
	apps.Set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(14 * time.Second), ready: t0.Add(3 * time.Second)}))
	check("rotates every app; app webapp: the VaultDynamicSecret's lease did not change")
	// Rotated, but its pods are from before the restart.
	apps.Set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(14 * time.Second), ready: t0.Add(-time.Minute), rotated: true}))
	check("not Ready again since the cluster restart")
	// Both back: each milestone at the later app's time.
	apps.Set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(14 * time.Second), ready: t0.Add(16 * time.Second), rotated: true}))
	check("")
	for name, want := range map[string]time.Time{
		msVSOLoggedIn: t0.Add(11 * time.Second), // the new client IDs, seen before either sync
		msVSOSynced:   t0.Add(14 * time.Second), // webapp's, the later one
		msAppsReady:   t0.Add(20 * time.Second), // billing's pods
	} {
		if got := e.MilestoneAt(name); !got.Equal(want) {
			t.Errorf("%s at %v, want %v", name, got, want)
		}
	}
	if err := checkOrder(e.Milestones(), []string{msClusterStarted, msUnsealed, msVSOLoggedIn, msVSOSynced, msAppsReady}); err != nil {
		t.Error(err)
	}
}

func TestCheckOrder(t *testing.T) {
	t0 := time.Now()
	ms := func(names ...string) []scenarios.Milestone {
		var out []scenarios.Milestone
		for i, n := range names {
			out = append(out, scenarios.Milestone{Name: n, At: t0.Add(time.Duration(i) * time.Second)})
		}
		return out
	}
	if err := checkOrder(ms(recoveryOrder...), recoveryOrder); err != nil {
		t.Error(err)
	}
	if err := checkOrder(ms(msVaultSealed, msPostgresUp, msUnsealed, msCredsIssued, msConsumerConn), recoveryOrder); err == nil {
		t.Error("Vault before Postgres accepted")
	}
	if err := checkOrder(ms(msPostgresUp, msVaultSealed), recoveryOrder); err == nil {
		t.Error("missing milestones accepted")
	}
}
