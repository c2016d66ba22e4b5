package builtin

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/sandboxtest"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

// leaseKeepingVSO stands in for VSO at the AppSide boundary on the real Vault: it holds
// a real lease of postgres/creds/<app>; when a look-up finds that lease gone, it takes
// new credentials and restarts the app, as VSO does at its next renewal.
type leaseKeepingVSO struct {
	t     *testing.T
	e     *scenarios.Env
	mu    sync.Mutex
	state map[string]vso.AppState
}

func (v *leaseKeepingVSO) fetch(ctx context.Context, app string, restarts int) {
	s, err := v.e.Vault.Root().Logical().ReadWithContext(ctx, vault.CredsPath(app))
	if err != nil || s == nil {
		v.t.Errorf("VSO stand-in: read %s: %v", vault.CredsPath(app), err)
		return
	}
	user, _ := s.Data["username"].(string)
	v.state[app] = vso.AppState{App: app, LeaseID: s.LeaseID, SecretUser: user, Ready: true,
		RestartedAt: time.Now().Add(time.Duration(restarts) * time.Second).Format(time.RFC3339), PodsReadySince: time.Now()}
}

func (v *leaseKeepingVSO) State(ctx context.Context, app string) (vso.AppState, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.state[app]
	if !ok {
		v.fetch(ctx, app, 0)
		return v.state[app], nil
	}
	if _, err := v.e.Vault.Root().Logical().WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": s.LeaseID}); err != nil {
		v.fetch(ctx, app, 1) // the lease is gone: new credentials, and a rollout
	}
	return v.state[app], nil
}

func (v *leaseKeepingVSO) Events(context.Context, string, time.Time) ([]vso.Event, error) {
	return nil, nil
}

// drillEnv brings a vault-profile sandbox up and opens its drill environment, for a
// test to give it stand-ins at the cluster and app boundaries.
func drillEnv(t *testing.T, name string, apps ...string) (*scenarios.Drill, *scenarios.Env) {
	t.Helper()
	conf := sandboxtest.Up(t, name, apps...)
	st, err := conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	e, err := scenarios.NewEnv(context.Background(), conf, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return scenarios.NewDrill(conf, nil, scenarios.Options{Name: name, Timeout: time.Minute}), e
}

// TestIntegrationLostLeaseRevokesTheAppsLeases: on the full profile, lost-lease also
// revokes the lease VSO holds for each app, and passes once every app is on new
// credentials (here VSO is a stand-in on the real Vault and Postgres).
func TestIntegrationLostLeaseRevokesTheAppsLeases(t *testing.T) {
	d, e := drillEnv(t, "it-lost-lease-apps", "webapp", "billing")
	ctx, st := context.Background(), e.State
	apps := &leaseKeepingVSO{t: t, e: e, state: map[string]vso.AppState{}}
	e.Apps = apps

	res := d.RunScenario(ctx, e, lostLease{})
	if res.Result != report.ResultPassed {
		t.Fatalf("lost-lease with the apps: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
	for _, app := range st.Spec.Apps {
		before, now := e.AppsBefore()[app], apps.state[app]
		if before.LeaseID == "" || now.LeaseID == before.LeaseID {
			t.Errorf("app %s: lease %q before, %q after; want a revoked one replaced", app, before.LeaseID, now.LeaseID)
		}
	}
}
