package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/arcodange/labsbx/e2e/kubetest"
	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// clusterSandbox is a sandbox whose state records a cluster and holds its kubeconfig,
// as the full profile leaves them after creating the cluster.
func clusterSandbox(t *testing.T, name string) (*Configuration, *state.State) {
	t.Helper()
	store, err := state.NewStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	conf := &Configuration{Store: store, Getenv: func(string) string { return "" }}
	cfg, err := config.Load("", conf.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spec.Profile = config.ProfileFull
	st := store.New(name, cfg.Spec, time.Now())
	ca, err := os.ReadFile("../fixtures/guard/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	ctxName := guard.ContextName(name)
	kc := kubetest.K3dKubeconfig(name, "https://127.0.0.1:36443", ca)
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(st.Dir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(path, kc); err != nil {
		t.Fatal(err)
	}
	rec, err := cluster.KubeRecord(kc, ctxName)
	if err != nil {
		t.Fatal(err)
	}
	st.Kube = &state.KubeState{Kubeconfig: path, Context: rec.Context, Cluster: rec.Cluster, User: rec.User,
		Server: rec.Server, CAFingerprint: rec.CAFingerprint, MarkerWritten: true}
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	return conf, st
}

func TestMergeKubeconfigRecordsAndUnmerges(t *testing.T) {
	conf, st := clusterSandbox(t, "demo")
	target := filepath.Join(t.TempDir(), "config")
	if p, err := (&KubeconfigPath{cfg: conf, Name: "demo"}).Run(); err != nil || p != st.Kube.Kubeconfig {
		t.Fatalf("Kubeconfig = %q, %v", p, err)
	}
	m, err := (&KubeconfigMerge{cfg: conf, Name: "demo", Target: target, SwitchContext: true}).Run()
	if err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.LoadFromFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if got.CurrentContext != "k3d-labsbx-demo" || m.Path != target {
		t.Fatalf("merged: current %q, record %+v", got.CurrentContext, m)
	}
	after, _ := conf.Store.Load("demo")
	if after.Kube.Merged == nil || after.Kube.Merged.Path != target {
		t.Fatalf("state does not record the merge: %+v", after.Kube)
	}
	// Another target while merged is refused (down would forget the first).
	if _, err := (&KubeconfigMerge{cfg: conf, Name: "demo", Target: filepath.Join(t.TempDir(), "other")}).Run(); err == nil {
		t.Error("merge into a second file succeeded")
	}
	um, err := (&KubeconfigUnmerge{cfg: conf, Name: "demo"}).Run()
	if err != nil || len(um.Removed) == 0 {
		t.Fatalf("unmerge = %+v, %v", um, err)
	}
	got, _ = clientcmd.LoadFromFile(target)
	if len(got.Contexts) != 0 || got.CurrentContext != "" {
		t.Errorf("after unmerge: %+v", got)
	}
	if um, err := (&KubeconfigUnmerge{cfg: conf, Name: "demo"}).Run(); err != nil || um.Removed != nil {
		t.Errorf("second unmerge = %+v, %v", um, err)
	}
}

// TestMergeKubeconfigAsksTheGuard: a state kubeconfig that no longer matches the
// record (another server here) is refused, and nothing is merged.
func TestMergeKubeconfigAsksTheGuard(t *testing.T) {
	conf, st := clusterSandbox(t, "demo")
	kc, err := clientcmd.LoadFromFile(st.Kube.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc.Clusters["k3d-labsbx-demo"].Server = "https://10.0.0.1:6443"
	if err := cluster.WriteKubeconfig(st.Kube.Kubeconfig, kc); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "config")
	if _, err := (&KubeconfigMerge{cfg: conf, Name: "demo", Target: target, SwitchContext: false}).Run(); !errors.Is(err, guard.ErrRefused) {
		t.Fatalf("merge of a tampered kubeconfig = %v, want a refusal", err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Error("a refused merge wrote the target")
	}
}

func TestKubeconfigOfAVaultProfileSandbox(t *testing.T) {
	conf, st := clusterSandbox(t, "demo")
	st.Kube = nil
	if err := conf.Store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := (&KubeconfigPath{cfg: conf, Name: "demo"}).Run(); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("Kubeconfig without a cluster = %v", err)
	}
}

// TestIntegrationDownRemovesMergedEntries: down of a sandbox that was merged into a
// user's kubeconfig takes its entries out again, through the real Docker engine.
func TestIntegrationDownRemovesMergedEntries(t *testing.T) {
	testenv.RequireDocker(t)
	conf, _ := clusterSandbox(t, "merged")
	conf.Getenv = os.Getenv
	target := filepath.Join(t.TempDir(), "config")
	if _, err := (&KubeconfigMerge{cfg: conf, Name: "merged", Target: target, SwitchContext: false}).Run(); err != nil {
		t.Fatal(err)
	}
	res, err := NewDown(conf, DownOptions{Name: "merged"}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Kubeconfig) != 3 || !res.StateRemoved {
		t.Errorf("down: %+v", res)
	}
	got, err := clientcmd.LoadFromFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Contexts)+len(got.Clusters)+len(got.AuthInfos) != 0 {
		t.Errorf("entries left after down: %+v", got)
	}
}
