package builtin

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

// containerCluster stands in for k3d at the ClusterPower boundary: a power cycle of
// the sandbox's real Vault and Postgres containers, all stopped at once and started
// together, as a cluster's nodes are.
type containerCluster struct {
	rt      *docker.Runtime
	mu      sync.Mutex
	started time.Time
}

func (c *containerCluster) Stop(ctx context.Context) error {
	for _, comp := range []string{connect.ComponentVault, connect.ComponentPostgres} {
		if err := c.rt.Stop(ctx, comp, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (c *containerCluster) Start(ctx context.Context) error {
	for _, comp := range []string{connect.ComponentVault, connect.ComponentPostgres} {
		if err := c.rt.Start(ctx, comp); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.started = time.Now()
	c.mu.Unlock()
	return nil
}

// vsoOnVault stands in for VSO and the app at the AppSide boundary, driven by the real
// Vault, as VSO v0.10.0 behaves across a power cycle: its pod restarts with the
// cluster, logs in afresh once Vault answers unsealed (a new client ID), then rotates
// the app (real credentials from postgres/creds/<app>, a rollout-restart), and the
// app's pods are Ready shortly after.
type vsoOnVault struct {
	t     *testing.T
	e     *scenarios.Env
	cl    *containerCluster
	mu    sync.Mutex
	state map[string]vso.AppState
}

func (a *vsoOnVault) State(ctx context.Context, app string) (vso.AppState, error) {
	a.cl.mu.Lock()
	started := a.cl.started
	a.cl.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == nil {
		a.state = map[string]vso.AppState{}
	}
	s, ok := a.state[app]
	if !ok {
		s = vso.AppState{App: app, LeaseID: "postgres/creds/" + app + "/before", SecretUser: "v-" + app + "-before", VaultClientID: "client-1",
			LastRenewal: time.Now().Add(-10 * time.Second).Truncate(time.Second), LeaseDuration: time.Minute,
			RestartedAt: "2026-11-27T05:00:00Z", Ready: true, PodsReadySince: time.Now().Add(-time.Minute)}
		a.state[app] = s
	}
	if started.IsZero() || s.VaultClientID != "client-1" {
		return s, nil
	}
	if st, err := a.e.Vault.Status(ctx); err != nil || st.Sealed {
		return s, nil // a sealed Vault refuses VSO's login
	}
	creds, err := a.e.Vault.Root().Logical().ReadWithContext(ctx, vault.CredsPath(app))
	if err != nil || creds == nil {
		a.t.Errorf("VSO stand-in: read %s: %v", vault.CredsPath(app), err)
		return s, nil
	}
	now := time.Now()
	user, _ := creds.Data["username"].(string)
	s.VaultClientID, s.LeaseID, s.SecretUser = "client-2", creds.LeaseID, user
	s.LastRenewal, s.LeaseDuration = now.Truncate(time.Second), time.Duration(creds.LeaseDuration)*time.Second
	s.RestartedAt, s.PodsReadySince = now.UTC().Format(time.RFC3339), now.Add(time.Millisecond)
	a.state[app] = s
	return s, nil
}

func (a *vsoOnVault) Events(context.Context, string, time.Time) ([]vso.Event, error) { return nil, nil }

// TestIntegrationFullRestartOfACluster runs full-restart's cluster path (the full
// profile's power cycle) on a vault-profile sandbox: real Vault and Postgres stopped
// and started as a cluster's nodes would be, Vault sealed by it and unsealed by the
// drill, and the app side answering from Vault's real state.
func TestIntegrationFullRestartOfACluster(t *testing.T) {
	d, e := drillEnv(t, "it-cluster-restart")
	ctx := context.Background()
	cl := &containerCluster{rt: e.Docker}
	apps := &vsoOnVault{t: t, e: e, cl: cl}
	e.Cluster, e.Apps = cl, apps

	res := d.RunScenario(ctx, e, NewFullRestart())
	if res.Result != report.ResultPassed {
		t.Fatalf("full-restart of a cluster: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
	var got []string
	for _, m := range res.Milestones {
		got = append(got, m.Name)
	}
	want := []string{msClusterStopped, msClusterStarted, msPostgresUp, msVaultSealed, msUnsealed, msVSOLoggedIn, msVSOSynced, msAppsReady}
	if !isSubsequence(got, want) {
		t.Errorf("milestones %v, want %v in that order", got, want)
	}
	for _, app := range e.State.Spec.Apps {
		if before, now := e.AppsBefore()[app], apps.state[app]; now.LeaseID == before.LeaseID || now.VaultClientID == before.VaultClientID {
			t.Errorf("app %s: %+v after the restart, %+v before; want a new login and a rotation", app, now, before)
		}
	}

}

func isSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
