package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/vso"
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

func (f *fakeApps) set(app string, s vso.AppState, ev ...vso.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[app] = s
	f.events[app] = append(f.events[app], ev...)
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
	if res.Result != ResultPassed {
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
	if res.Result != ResultFailed || res.FailedPhase != PhaseVerify || !strings.Contains(res.Error, "app billing") || strings.Contains(res.Error, "app webapp") {
		t.Fatalf("result %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
}

func TestEngineAppsMustBeHealthyBeforeAndAfter(t *testing.T) {
	d, e, apps := appsEnv(t)
	sick := healthyApp("billing", "B")
	sick.Ready, sick.Rollout = false, "0 of 1 updated replicas available"
	apps.set("billing", sick)
	res := d.runScenario(context.Background(), e, &fakeScenario{name: "fake"})
	if res.Result != ResultFailed || res.FailedPhase != PhaseSteady || !strings.Contains(res.Error, "not ready") {
		t.Fatalf("unhealthy app before the fault: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}

	// A scenario that expects no rotation still needs the apps ready after it.
	apps.set("billing", healthyApp("billing", "B"))
	f := &fakeScenario{name: "fake"}
	f.recoverFn = func() error { f.broken = false; apps.set("webapp", sick); return nil }
	res = d.runScenario(context.Background(), e, f)
	if res.Result != ResultFailed || res.FailedPhase != PhaseVerify {
		t.Fatalf("app not ready after recovery: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
}

// TestAppsBackAfterRestart: after a cluster power cycle, every app needs VSO to have
// synced or renewed after the unseal, and its pods Ready since the cluster started.
func TestAppsBackAfterRestart(t *testing.T) {
	_, e, apps := appsEnv(t)
	t0 := time.Now().Truncate(time.Second)
	e.markAt(msClusterStarted, t0)
	e.markAt(msUnsealed, t0.Add(10*time.Second))
	back := func(app string, renewed, ready time.Time) vso.AppState {
		s := healthyApp(app, "L")
		s.LastRenewal, s.PodsReadySince = renewed, ready
		return s
	}
	// VSO renewed before the unseal only (its pod came back with the old lease).
	apps.set("webapp", back("webapp", t0.Add(5*time.Second), t0.Add(3*time.Second)))
	apps.set("billing", back("billing", t0.Add(12*time.Second), t0.Add(3*time.Second)))
	if err := appsBackAfterRestart(context.Background(), e); err == nil || !strings.Contains(err.Error(), "app webapp: VSO has not synced") {
		t.Fatalf("renewal before the unseal: %v", err)
	}
	// A SecretSynced event after the unseal counts; pods Ready before the restart do not.
	apps.set("webapp", back("webapp", time.Time{}, t0.Add(-time.Minute)),
		vso.Event{Reason: vso.ReasonSecretSynced, Type: "Normal", Time: t0.Add(11 * time.Second)})
	if err := appsBackAfterRestart(context.Background(), e); err == nil || !strings.Contains(err.Error(), "not Ready again since the cluster restart") {
		t.Fatalf("pods ready before the restart: %v", err)
	}
	// Both back: VSO at the later of the two apps, apps ready at the later pod.
	apps.set("webapp", back("webapp", time.Time{}, t0.Add(4*time.Second)))
	if err := appsBackAfterRestart(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if got := e.milestoneAt(msVSOSynced); !got.Equal(t0.Add(12 * time.Second)) {
		t.Errorf("%s at %v, want the later app's renewal %v", msVSOSynced, got, t0.Add(12*time.Second))
	}
	if got := e.milestoneAt(msAppsReady); !got.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("%s at %v", msAppsReady, got)
	}
	if err := checkOrder(e.peekMilestones(), []string{msClusterStarted, msUnsealed, msVSOSynced}); err != nil {
		t.Error(err)
	}
}
