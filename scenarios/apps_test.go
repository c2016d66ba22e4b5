package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios/report"
	"github.com/arcodange/labsbx/scenarios/scenariotest"
)

// rotatingScenario is fakeScenario that expects the apps to get new credentials.
type rotatingScenario struct{ *fakeScenario }

func (rotatingScenario) AppOutcome() AppOutcome { return AppRotated }

func appsEnv(t *testing.T) (*Drill, *Env, *scenariotest.Apps) {
	t.Helper()
	d, e := newTestDrill(t, Options{Name: "t", Timeout: 500 * time.Millisecond})
	e.State.Spec.Apps = []string{"webapp", "billing"}
	apps := scenariotest.NewApps()
	apps.Set("webapp", scenariotest.HealthyApp("webapp", "A"))
	apps.Set("billing", scenariotest.HealthyApp("billing", "B"))
	e.Apps = apps
	return d, e, apps
}

func TestEngineAppsRotated(t *testing.T) {
	d, e, apps := appsEnv(t)
	f := &fakeScenario{name: "fake"}
	f.onInject = func() {
		// VSO fails to renew, before the fault counts as in place.
		apps.Set("webapp", scenariotest.HealthyApp("webapp", "A"), vso.Event{Reason: vso.ReasonSecretSyncError, Type: "Warning", Time: time.Now()})
	}
	f.recoverFn = func() error {
		f.broken = false
		for _, app := range []string{"webapp", "billing"} {
			apps.Set(app, scenariotest.HealthyApp(app, "new-"+app), vso.Event{Reason: vso.ReasonSecretRotated, Type: "Normal", Time: time.Now()})
		}
		return nil
	}
	res := d.RunScenario(context.Background(), e, rotatingScenario{f})
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
		apps.Set("webapp", scenariotest.HealthyApp("webapp", "new")) // billing keeps its old lease
		return nil
	}
	res := d.RunScenario(context.Background(), e, rotatingScenario{f})
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseVerify || !strings.Contains(res.Error, "app billing") || strings.Contains(res.Error, "app webapp") {
		t.Fatalf("result %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
}

func TestEngineAppsMustBeHealthyBeforeAndAfter(t *testing.T) {
	d, e, apps := appsEnv(t)
	sick := scenariotest.HealthyApp("billing", "B")
	sick.Ready, sick.Rollout = false, "0 of 1 updated replicas available"
	apps.Set("billing", sick)
	res := d.RunScenario(context.Background(), e, &fakeScenario{name: "fake"})
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseSteady || !strings.Contains(res.Error, "not ready") {
		t.Fatalf("unhealthy app before the fault: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}

	// A scenario that expects no rotation still needs the apps ready after it.
	apps.Set("billing", scenariotest.HealthyApp("billing", "B"))
	f := &fakeScenario{name: "fake"}
	f.recoverFn = func() error { f.broken = false; apps.Set("webapp", sick); return nil }
	res = d.RunScenario(context.Background(), e, f)
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
	apps.Set("webapp", scenariotest.HealthyApp("webapp", "A"), at(restart, t0.Add(-5*time.Minute))) // at creation
	since := t0.Add(-33 * time.Second)                                                              // the fault
	apps.Set("webapp", scenariotest.HealthyApp("webapp", "A"),
		at(sealed, t0.Add(-30*time.Second)), at(sealed, t0.Add(-20*time.Second)), at(sealed, t0.Add(-10*time.Second)),
		vso.Event{Reason: vso.ReasonSecretRotated, Type: "Normal", Time: t0.Add(-1 * time.Second),
			Message: `Secret synced, lease_id="postgres/creds/webapp/B", horizon=40s, sync_reason="SecretLeaseRenewalError"`},
		at(restart, t0))
	if err := e.markAppEvents(context.Background(), since); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, m := range e.Milestones() {
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

// TestVerifyWaitsForVSO: on the full profile, verify waits until VSO's renewal window
// has passed for every app, plus its back-off and a rollout.
func TestVerifyWaitsForVSO(t *testing.T) {
	d, e, _ := appsEnv(t)
	now := time.Now()
	e.appsBefore = map[string]vso.AppState{
		"webapp":  {LastRenewal: now.Add(-time.Minute), LeaseDuration: 10 * time.Minute}, // renews by now+7m
		"billing": {LastRenewal: now, LeaseDuration: time.Minute},
	}
	d.vsoSlack = NewDrill(nil, nil, Options{}).vsoSlack
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
