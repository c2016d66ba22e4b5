package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios/report"
)

// fakeApps is VSO and the apps at the AppSide boundary: a state per app that a test
// moves along, and the Events VSO would have recorded.
type fakeApps struct {
	mu     sync.Mutex
	states map[string]vso.AppState
	events map[string][]vso.Event
}

func healthyApp(app, lease string) vso.AppState {
	return vso.AppState{App: app, LeaseID: lease, SecretUser: "v-" + lease, SecretVersion: lease, Ready: true, RestartedAt: lease}
}

func (f *fakeApps) State(_ context.Context, app string) (vso.AppState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.states[app]
	if !ok {
		return s, fmt.Errorf("app %s: VaultDynamicSecret %s-db not found", app, app)
	}
	return s, nil
}

func (f *fakeApps) Events(_ context.Context, app string, since time.Time) ([]vso.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vso.Event
	for _, e := range f.events[app] {
		if !e.Time.Before(since.Truncate(time.Second)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// set moves the app to state s, with the Events VSO recorded meanwhile. Like VSO's
// recorder, an Event identical to an earlier one (type, reason, message) is merged into
// it: its count grows and its last time moves, its first time stays.
func (f *fakeApps) set(app string, s vso.AppState, evs ...vso.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[app] = s
	for _, ev := range evs {
		merged := false
		for i, old := range f.events[app] {
			if old.Type == ev.Type && old.Reason == ev.Reason && old.Message == ev.Message {
				f.events[app][i].Count++
				f.events[app][i].Time = ev.Time
				merged = true
				break
			}
		}
		if !merged {
			ev.First, ev.Count = ev.Time, 1
			f.events[app] = append(f.events[app], ev)
		}
	}
}

// rotatingScenario is fakeScenario that expects the apps to get new credentials.
type rotatingScenario struct{ *fakeScenario }

func (rotatingScenario) AppOutcome() AppOutcome { return AppRotated }

func appsEnv(t *testing.T) (*Drill, *Env, *fakeApps) {
	t.Helper()
	d, e := newTestDrill(t, Options{Name: "t", Timeout: 500 * time.Millisecond})
	e.State.Spec.Apps = []string{"webapp", "billing"}
	apps := &fakeApps{states: map[string]vso.AppState{}, events: map[string][]vso.Event{}}
	apps.set("webapp", healthyApp("webapp", "A"))
	apps.set("billing", healthyApp("billing", "B"))
	e.Apps = apps
	return d, e, apps
}

func TestEngineAppsRotated(t *testing.T) {
	d, e, apps := appsEnv(t)
	f := &fakeScenario{name: "fake"}
	f.onInject = func() {
		// VSO fails to renew, before the fault counts as in place.
		apps.set("webapp", healthyApp("webapp", "A"), vso.Event{Reason: vso.ReasonSecretSyncError, Type: "Warning", Time: time.Now()})
	}
	f.recoverFn = func() error {
		f.broken = false
		for _, app := range []string{"webapp", "billing"} {
			apps.set(app, healthyApp(app, "new-"+app), vso.Event{Reason: vso.ReasonSecretRotated, Type: "Normal", Time: time.Now()})
		}
		return nil
	}
	res := d.runScenario(context.Background(), e, rotatingScenario{f})
	if res.Result != report.ResultPassed {
		t.Fatalf("result %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
	var names []string
	for _, m := range res.Milestones {
		names = append(names, m.Name)
	}
	got := strings.Join(names, "|")
	for _, want := range []string{"webapp: VSO SecretSyncError", "webapp: VSO SecretRotated", "billing: VSO SecretRotated"} {
		if !strings.Contains(got, want) {
			t.Errorf("milestones lack %q: %s", want, got)
		}
	}
	for i := 1; i < len(res.Milestones); i++ {
		if res.Milestones[i].At.Before(res.Milestones[i-1].At) {
			t.Errorf("milestones out of order: %s", got)
		}
	}
}

func TestEngineAppsNotRotatedFailsVerify(t *testing.T) {
	d, e, apps := appsEnv(t)
	f := &fakeScenario{name: "fake"}
	f.recoverFn = func() error {
		f.broken = false
		apps.set("webapp", healthyApp("webapp", "new")) // billing keeps its old lease
		return nil
	}
	res := d.runScenario(context.Background(), e, rotatingScenario{f})
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseVerify || !strings.Contains(res.Error, "app billing") || strings.Contains(res.Error, "app webapp") {
		t.Fatalf("result %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
}

func TestEngineAppsMustBeHealthyBeforeAndAfter(t *testing.T) {
	d, e, apps := appsEnv(t)
	sick := healthyApp("billing", "B")
	sick.Ready, sick.Rollout = false, "0 of 1 updated replicas available"
	apps.set("billing", sick)
	res := d.runScenario(context.Background(), e, &fakeScenario{name: "fake"})
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseSteady || !strings.Contains(res.Error, "not ready") {
		t.Fatalf("unhealthy app before the fault: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}

	// A scenario that expects no rotation still needs the apps ready after it.
	apps.set("billing", healthyApp("billing", "B"))
	f := &fakeScenario{name: "fake"}
	f.recoverFn = func() error { f.broken = false; apps.set("webapp", sick); return nil }
	res = d.runScenario(context.Background(), e, f)
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseVerify {
		t.Fatalf("app not ready after recovery: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
}

// TestMarkAppEventsDatesRepeats: a repeated Event is dated by its last sighting when
// it was first seen before the fault (VSO's RolloutRestartTriggered always reads the
// same, so its first time is the app's creation), and a sync says why it happened.
func TestMarkAppEventsDatesRepeats(t *testing.T) {
	_, e, apps := appsEnv(t)
	t0 := time.Now().Truncate(time.Second)
	restart := vso.Event{Reason: vso.ReasonRolloutRestartTriggered, Type: "Normal", Message: "Rollout restart triggered for {Deployment webapp}"}
	sealed := vso.Event{Reason: vso.ReasonSecretSyncError, Type: "Warning", Message: "Failed to sync the secret, horizon=5s, err=Vault is sealed"}
	at := func(ev vso.Event, t time.Time) vso.Event { ev.Time = t; return ev }
	apps.set("webapp", healthyApp("webapp", "A"), at(restart, t0.Add(-5*time.Minute))) // at creation
	since := t0.Add(-33 * time.Second)                                                 // the fault
	apps.set("webapp", healthyApp("webapp", "A"),
		at(sealed, t0.Add(-30*time.Second)), at(sealed, t0.Add(-20*time.Second)), at(sealed, t0.Add(-10*time.Second)),
		vso.Event{Reason: vso.ReasonSecretRotated, Type: "Normal", Time: t0.Add(-1 * time.Second),
			Message: `Secret synced, lease_id="postgres/creds/webapp/B", horizon=40s, sync_reason="SecretLeaseRenewalError"`},
		at(restart, t0))
	if err := e.markAppEvents(context.Background(), since); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, m := range e.peekMilestones() {
		got[m.Name] = m.At
	}
	for name, want := range map[string]time.Time{
		"webapp: VSO RolloutRestartTriggered":                             t0, // not the fault, nor the creation
		"webapp: VSO SecretSyncError":                                     t0.Add(-30 * time.Second),
		"webapp: VSO SecretSyncError (last of 3)":                         t0.Add(-10 * time.Second),
		"webapp: VSO SecretRotated (sync_reason=SecretLeaseRenewalError)": t0.Add(-1 * time.Second),
	} {
		if !got[name].Equal(want) {
			t.Errorf("%q at %v, want %v (all: %v)", name, got[name], want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("milestones %v", got)
	}
}

// TestAppsBackAfterRestart: after a cluster power cycle, every app needs VSO to have
// logged in again and synced after the unseal, to have rotated the app, and the app's
// pods Ready since the cluster started. A "Not in renewal window" renewal Event, which
// a restarted VSO records without renewing anything, does not count.
func TestAppsBackAfterRestart(t *testing.T) {
	_, e, apps := appsEnv(t)
	t0 := time.Now().Truncate(time.Second)
	e.now = func() time.Time { return t0.Add(11 * time.Second) } // when the drill polls
	e.markAt(msClusterStarted, t0)
	e.markAt(msUnsealed, t0.Add(10*time.Second))
	e.appsBefore = map[string]vso.AppState{}
	for _, app := range []string{"webapp", "billing"} {
		b := healthyApp(app, "old-"+app)
		b.VaultClientID = "client-before"
		e.appsBefore[app] = b
	}
	type back struct {
		client         string
		renewed, ready time.Time
		rotated        bool
	}
	state := func(app string, b back) vso.AppState {
		s := e.appsBefore[app]
		if b.rotated {
			s = healthyApp(app, "new-"+app)
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
	apps.set("billing", state("billing", back{client: "client-b", renewed: t0.Add(12 * time.Second), ready: t0.Add(20 * time.Second), rotated: true}))

	// VSO's pod is back with the old lease: it renewed before the unseal only, and its
	// "Not in renewal window" Event is no renewal.
	apps.set("webapp", state("webapp", back{client: "client-before", renewed: t0.Add(5 * time.Second), ready: t0.Add(3 * time.Second)}), notInWindow)
	check("app webapp: VSO has not logged in to Vault again")
	// It logged in again (a new client ID), still without a sync.
	apps.set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(5 * time.Second), ready: t0.Add(3 * time.Second)}))
	check("app webapp: VSO logged in again but has not synced")
	// It synced, but the app is not rotated yet.
	apps.set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(14 * time.Second), ready: t0.Add(3 * time.Second)}))
	check("rotates every app; app webapp: the VaultDynamicSecret's lease did not change")
	// Rotated, but its pods are from before the restart.
	apps.set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(14 * time.Second), ready: t0.Add(-time.Minute), rotated: true}))
	check("not Ready again since the cluster restart")
	// Both back: each milestone at the later app's time.
	apps.set("webapp", state("webapp", back{client: "client-w", renewed: t0.Add(14 * time.Second), ready: t0.Add(16 * time.Second), rotated: true}))
	check("")
	for name, want := range map[string]time.Time{
		msVSOLoggedIn: t0.Add(11 * time.Second), // the new client IDs, seen before either sync
		msVSOSynced:   t0.Add(14 * time.Second), // webapp's, the later one
		msAppsReady:   t0.Add(20 * time.Second), // billing's pods
	} {
		if got := e.milestoneAt(name); !got.Equal(want) {
			t.Errorf("%s at %v, want %v", name, got, want)
		}
	}
	if err := checkOrder(e.peekMilestones(), []string{msClusterStarted, msUnsealed, msVSOLoggedIn, msVSOSynced, msAppsReady}); err != nil {
		t.Error(err)
	}
}

// TestVerifyWaitsForVSO: on the full profile, verify waits until VSO's renewal window
// has passed for every app, plus its back-off and a rollout.
func TestVerifyWaitsForVSO(t *testing.T) {
	d, e, _ := appsEnv(t)
	now := time.Now()
	e.appsBefore = map[string]vso.AppState{
		"webapp":  {LastRenewal: now.Add(-time.Minute), LeaseDuration: 10 * time.Minute}, // renews by now+7m
		"billing": {LastRenewal: now, LeaseDuration: time.Minute},
	}
	d.vsoSlack = NewDrill(nil, Options{}).vsoSlack
	want := 7*time.Minute + vso.SyncBackoffMax + appRolloutAllowance
	if got := d.verifyTimeout(e, now); got != want {
		t.Errorf("verify timeout %v, want %v", got, want)
	}
	e.Apps = nil
	if got := d.verifyTimeout(e, now); got != d.opts.Timeout {
		t.Errorf("vault profile: verify timeout %v, want the drill's %v", got, d.opts.Timeout)
	}
	d.opts.NoRecover = true
	if got := d.verifyTimeout(e, now); got > 2*time.Second {
		t.Errorf("--no-recover: verify timeout %v", got)
	}
}
