package scenarios

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/vso"
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
	for _, comp := range []string{sandbox.ComponentVault, sandbox.ComponentPostgres} {
		if err := c.rt.Stop(ctx, comp, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (c *containerCluster) Start(ctx context.Context) error {
	for _, comp := range []string{sandbox.ComponentVault, sandbox.ComponentPostgres} {
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
// Vault: VSO renews its lease once Vault answers unsealed after the restart, and the
// app's pods are Ready from readyAfterStart on after the cluster started.
type vsoOnVault struct {
	e               *Env
	cl              *containerCluster
	readyAfterStart time.Duration
	mu              sync.Mutex
	renewed         time.Time
}

func (a *vsoOnVault) State(ctx context.Context, app string) (vso.AppState, error) {
	a.cl.mu.Lock()
	started := a.cl.started
	a.cl.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if st, err := a.e.Vault.Status(ctx); err == nil && !st.Sealed && !started.IsZero() && a.renewed.IsZero() {
		a.renewed = time.Now()
	}
	s := vso.AppState{App: app, LeaseID: "postgres/creds/" + app + "/x", SecretUser: "v-" + app, Ready: true, LastRenewal: a.renewed}
	if !started.IsZero() {
		s.PodsReadySince = started.Add(a.readyAfterStart)
	}
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
	apps := &vsoOnVault{e: e, cl: cl}
	e.Cluster, e.Apps = cl, apps

	res := d.runScenario(ctx, e, fullRestart{})
	if res.Result != ResultPassed {
		t.Fatalf("full-restart of a cluster: %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
	var got []string
	for _, m := range res.Milestones {
		got = append(got, m.Name)
	}
	want := []string{msClusterStopped, msClusterStarted, msPostgresUp, msVaultSealed, msUnsealed, msVSOSynced}
	if !isSubsequence(got, want) || !isSubsequence(got, []string{msClusterStarted, msAppsReady}) {
		t.Errorf("milestones %v, want %v in that order, and apps ready after the start", got, want)
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
