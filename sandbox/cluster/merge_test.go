package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/e2e/kubetest"
	"github.com/arcodange/labsbx/sandbox/guard"
)

func readCA(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../fixtures/guard/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// userKubeconfig is a user's own kubeconfig with a production context as current.
func userKubeconfig(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	c := clientcmdapi.NewConfig()
	cl := clientcmdapi.NewCluster()
	cl.Server = "https://10.0.0.1:6443"
	cl.CertificateAuthorityData = readCA(t, "other-ca.crt")
	u := clientcmdapi.NewAuthInfo()
	u.Token = "prod-token"
	x := clientcmdapi.NewContext()
	x.Cluster, x.AuthInfo, x.Namespace = "prod", "prod-admin", "apps"
	c.Clusters["prod"], c.AuthInfos["prod-admin"], c.Contexts["prod"] = cl, u, x
	c.CurrentContext = "prod"
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	return c
}

func sandboxKubeconfig(t *testing.T, ca []byte, server string) (*clientcmdapi.Config, guard.KubeRecord) {
	t.Helper()
	ctxName := guard.ContextName("demo")
	kc := kubetest.K3dKubeconfig("demo", server, ca)
	rec, err := KubeRecord(kc, ctxName)
	if err != nil {
		t.Fatal(err)
	}
	return kc, *rec
}

func load(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	c, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertProdUntouched: the user's own entries are exactly as they were.
func assertProdUntouched(t *testing.T, got, want *clientcmdapi.Config) {
	t.Helper()
	if got.Clusters["prod"].Server != want.Clusters["prod"].Server ||
		string(got.Clusters["prod"].CertificateAuthorityData) != string(want.Clusters["prod"].CertificateAuthorityData) ||
		got.AuthInfos["prod-admin"].Token != "prod-token" ||
		got.Contexts["prod"].Namespace != "apps" || got.Contexts["prod"].Cluster != "prod" {
		t.Errorf("the user's own entries changed: %+v", got)
	}
}

func TestMergeAndUnmerge(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	orig := userKubeconfig(t, path)
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")

	m, err := Merge(approve(t, path), kc, rec, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := load(t, path)
	assertProdUntouched(t, got, orig)
	if got.CurrentContext != "prod" {
		t.Errorf("merge without switch changed current-context to %q", got.CurrentContext)
	}
	if got.Contexts[rec.Context] == nil || got.Clusters[rec.Cluster].Server != rec.Server || got.AuthInfos[rec.User] == nil {
		t.Fatalf("sandbox entries missing after merge: %+v", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("merge changed the file mode to %v", fi.Mode().Perm())
	}
	// Merging again is harmless, and --switch-context remembers where the user was.
	if m, err = Merge(approve(t, path), kc, rec, true, m); err != nil {
		t.Fatal(err)
	}
	if got := load(t, path); got.CurrentContext != rec.Context || m.PreviousContext != "prod" || !m.Switched {
		t.Fatalf("switch: current %q, record %+v", got.CurrentContext, m)
	}
	if m, err = Merge(approve(t, path), kc, rec, true, m); err != nil || m.PreviousContext != "prod" {
		t.Fatalf("a second switch forgot the previous context: %+v, %v", m, err)
	}

	removed, err := Unmerge(approve(t, m.Path), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 4 {
		t.Errorf("Unmerge removed %v", removed)
	}
	got = load(t, path)
	assertProdUntouched(t, got, orig)
	if got.CurrentContext != "prod" || len(got.Contexts) != 1 || len(got.Clusters) != 1 || len(got.AuthInfos) != 1 {
		t.Errorf("after unmerge: current %q, %d contexts, %d clusters, %d users", got.CurrentContext, len(got.Contexts), len(got.Clusters), len(got.AuthInfos))
	}
	if removed, err := Unmerge(approve(t, m.Path), m); err != nil || len(removed) != 0 {
		t.Errorf("second Unmerge = %v, %v", removed, err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left behind")
	}
}

func TestMergeCreatesAMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kube", "config")
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")
	if _, err := Merge(approve(t, path), kc, rec, false, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new kubeconfig: %v %v", fi, err)
	}
	if got := load(t, path); len(got.Contexts) != 1 || got.CurrentContext != "" {
		t.Errorf("new kubeconfig: %+v", got)
	}
}

// TestMergeRefusesForeignEntries: an entry of the same name that points elsewhere is
// the user's, not ours; nothing is written.
func TestMergeRefusesForeignEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	userKubeconfig(t, path)
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")
	c := load(t, path)
	cl := clientcmdapi.NewCluster()
	cl.Server = "https://10.0.0.1:6443" // production, under the sandbox's name
	cl.CertificateAuthorityData = readCA(t, "other-ca.crt")
	c.Clusters[rec.Cluster] = cl
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, err := Merge(approve(t, path), kc, rec, true, nil)
	if !errors.Is(err, ErrForeignEntry) || !strings.Contains(err.Error(), "kubectl config delete-cluster "+rec.Cluster) {
		t.Fatalf("Merge over a foreign cluster = %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused merge wrote the file")
	}
	// Unmerge leaves the foreign entry alone too.
	m := &Merged{Path: path, Context: rec.Context, Cluster: rec.Cluster, User: rec.User, Server: rec.Server, CAFingerprint: rec.CAFingerprint}
	if removed, err := Unmerge(approve(t, m.Path), m); err != nil || len(removed) != 0 {
		t.Fatalf("Unmerge of a foreign entry = %v, %v", removed, err)
	}
	if load(t, path).Clusters[rec.Cluster].Server != "https://10.0.0.1:6443" {
		t.Error("Unmerge removed a foreign cluster entry")
	}
}

// TestMergeReplacesItsOwnEntriesAfterRecreation: a recreated cluster (new port and CA)
// replaces the entries the earlier merge wrote.
func TestMergeReplacesItsOwnEntriesAfterRecreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	userKubeconfig(t, path)
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")
	m, err := Merge(approve(t, path), kc, rec, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc2, rec2 := sandboxKubeconfig(t, readCA(t, "other-ca.crt"), "https://127.0.0.1:40001")
	if _, err := Merge(approve(t, path), kc2, rec2, false, nil); !errors.Is(err, ErrForeignEntry) {
		t.Fatalf("without the earlier record, a different entry is foreign: %v", err)
	}
	if _, err := Merge(approve(t, path), kc2, rec2, false, m); err != nil {
		t.Fatalf("with the earlier record: %v", err)
	}
	if got := load(t, path); got.Clusters[rec.Cluster].Server != "https://127.0.0.1:40001" {
		t.Errorf("cluster entry not replaced: %s", got.Clusters[rec.Cluster].Server)
	}
}

func TestMergeWaitsForKubectlLock(t *testing.T) {
	defer func(d time.Duration) { lockWait = d }(lockWait)
	lockWait = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")
	if _, err := Merge(approve(t, path), kc, rec, false, nil); err == nil || !strings.Contains(err.Error(), "is locked") {
		t.Fatalf("Merge under a held lock = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("Merge wrote under a held lock")
	}
}

// TestMergeThroughASymlink: a kubeconfig that links elsewhere is written through the
// link, which stays a link.
func TestMergeThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	userKubeconfig(t, real)
	link := filepath.Join(dir, ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")
	m, err := Merge(approve(t, link), kc, rec, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	if got := load(t, real); got.Contexts[rec.Context] == nil {
		t.Fatal("the linked file lacks the sandbox context")
	}
	if removed, err := Unmerge(approve(t, m.Path), m); err != nil || len(removed) != 3 {
		t.Fatalf("Unmerge through the link = %v, %v", removed, err)
	}
	if got := load(t, real); got.Contexts[rec.Context] != nil {
		t.Error("the sandbox context is still in the linked file")
	}
}

// TestMergeAgainWithoutRecord: entries identical to what Merge writes are its own,
// even when the state lost the record (a crash between the write and the save).
func TestMergeAgainWithoutRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	userKubeconfig(t, path)
	kc, rec := sandboxKubeconfig(t, readCA(t, "ca.crt"), "https://127.0.0.1:36443")
	if _, err := Merge(approve(t, path), kc, rec, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(approve(t, path), kc, rec, false, nil); err != nil {
		t.Fatalf("second merge of identical entries: %v", err)
	}
}

// approve asks the guard for a kubeconfig merge target, as the sandbox does.
func approve(t *testing.T, path string) guard.FileApproval {
	t.Helper()
	a, err := guard.ApproveWrite(path, guard.KubeconfigFormat, guard.WriteScope{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
