package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/e2e/kubetest"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// plantCluster writes the state a full-profile sandbox has once its cluster exists: a
// kubeconfig in the state dir and the guard's record of it. server is what the
// kubeconfig says; the record always says https://127.0.0.1:36443.
func plantCluster(t *testing.T, c *cli, name, server string) {
	t.Helper()
	store, err := state.NewStore(c.home)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(name, config.DefaultSpec(), time.Now())
	st.Profile, st.Spec.Profile, st.Phase = config.ProfileFull, config.ProfileFull, state.PhaseReady
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile("../fixtures/guard/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	ctxName := guard.ContextName(name)
	kc := kubetest.K3dKubeconfig(name, "https://127.0.0.1:36443", ca)
	rec, err := cluster.KubeRecord(kc, ctxName)
	if err != nil {
		t.Fatal(err)
	}
	kc.Clusters[ctxName].Server = server
	path := filepath.Join(st.Dir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(path, kc); err != nil {
		t.Fatal(err)
	}
	st.Kube = &state.KubeState{Kubeconfig: path, Context: rec.Context, Cluster: rec.Cluster, User: rec.User,
		Server: rec.Server, CAFingerprint: rec.CAFingerprint, MarkerWritten: true}
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestE2EKubeconfig: path, get, merge into a user's kubeconfig with --switch-context,
// and down taking the entries out again; a tampered state kubeconfig is refused.
func TestE2EKubeconfig(t *testing.T) {
	c := newCLI(t)
	plantCluster(t, c, "kc", "https://127.0.0.1:36443")
	target := filepath.Join(t.TempDir(), "config")
	user := clientcmdapi.NewConfig()
	user.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443"}
	user.AuthInfos["prod"] = &clientcmdapi.AuthInfo{Token: "prod-token"}
	user.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "prod"}
	user.CurrentContext = "prod"
	if err := clientcmd.WriteToFile(*user, target); err != nil {
		t.Fatal(err)
	}

	path := strings.TrimSpace(c.ok("kubeconfig", "path", "--name", "kc").stdout)
	if path != filepath.Join(c.home, "kc", "kubeconfig") {
		t.Errorf("kubeconfig path = %q", path)
	}
	if got := c.ok("kubeconfig", "get", "--name", "kc").stdout; !strings.Contains(got, "k3d-labsbx-kc") {
		t.Errorf("kubeconfig get:\n%s", got)
	}
	c.ok("kubeconfig", "merge", "--name", "kc", "--kubeconfig", target, "--switch-context")
	merged, err := clientcmd.LoadFromFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if merged.CurrentContext != "k3d-labsbx-kc" || merged.Contexts["prod"] == nil {
		t.Fatalf("after merge: current %q, contexts %v", merged.CurrentContext, merged.Contexts)
	}

	var down struct {
		Kubeconfig []string `json:"kubeconfig"`
	}
	c.json(&down, "down", "--name", "kc")
	after, err := clientcmd.LoadFromFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(down.Kubeconfig) == 0 || after.CurrentContext != "prod" || len(after.Contexts) != 1 || after.AuthInfos["prod"].Token != "prod-token" {
		t.Errorf("after down: removed %v; current %q, contexts %v", down.Kubeconfig, after.CurrentContext, after.Contexts)
	}

	// A state kubeconfig that points elsewhere than the record: every command refuses.
	plantCluster(t, c, "tampered", "https://127.0.0.2:36443")
	for _, args := range [][]string{{"kubeconfig", "path"}, {"kubeconfig", "get"}, {"kubeconfig", "merge", "--kubeconfig", target}} {
		if r := c.run(append(args, "--name", "tampered")...); r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("labsbx %s on a tampered kubeconfig: exit %d, %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// The vault profile has no cluster: a clear error, not a refusal.
	plantState(t, c, "vaultonly", "http://127.0.0.1:1", "")
	if r := c.run("kubeconfig", "path", "--name", "vaultonly"); r.code != 1 || !strings.Contains(r.stderr, "no kubeconfig") {
		t.Errorf("kubeconfig path of a vault-profile sandbox: exit %d, %q", r.code, r.stderr)
	}
}
