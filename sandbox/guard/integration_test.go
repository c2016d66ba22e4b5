package guard_test

// External test package: e2e/testenv may one day import packages that import
// the guard, and an internal test importing it would then be a cycle.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/guard"
)

const itUUID = "0b6f5f0e-7c2d-4a8e-b3f1-9d2c4e6a8b10"

var refusedNamespace = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "labsbx-refused"}}

// TestIntegrationVault runs the Vault half of the guard against a real Vault:
// init only while uninitialised, then trust only the recorded cluster_id,
// including across a seal/unseal.
func TestIntegrationVault(t *testing.T) {
	ctx := context.Background()
	v := testenv.Vault(t)
	rec := guard.Record{Name: "itest", UUID: itUUID, StateDir: t.TempDir(), Vault: &guard.VaultRecord{Addr: v.Addr}}

	// Uninitialised: init is approved, and its client can init and unseal only.
	ia, err := guard.ApproveVaultInit(ctx, rec, v.Addr, v.Receiver())
	if err != nil {
		t.Fatalf("ApproveVaultInit on a fresh Vault: %v", err)
	}
	ic, err := ia.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Sys().ListMounts(); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("mounts through an init approval = %v, want refusal", err)
	}
	resp, err := ic.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	unsealKey, root := resp.Keys[0], resp.RootToken
	if _, err := ic.Sys().UnsealWithContext(ctx, unsealKey); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	clusterID, err := ia.ClusterID(ctx)
	if err != nil || clusterID == "" {
		t.Fatalf("ClusterID = %q, %v", clusterID, err)
	}

	// Initialised: a second init is refused.
	if _, err := guard.ApproveVaultInit(ctx, rec, v.Addr, v.Receiver()); !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("ApproveVaultInit on an initialised Vault = %v", err)
	}

	// Recorded cluster_id: approved, verified, usable with the root token.
	rec.Vault.ClusterID = clusterID
	a, err := guard.ApproveVault(ctx, rec, v.Receiver())
	if err != nil || !a.Verified() {
		t.Fatalf("ApproveVault = %v (verified %v)", err, a.Verified())
	}
	c, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(root)
	if _, err := c.Sys().ListMountsWithContext(ctx); err != nil {
		t.Errorf("mounts with the root token: %v", err)
	}

	// Another recorded cluster_id: refused.
	other := rec
	other.Vault = &guard.VaultRecord{Addr: v.Addr, ClusterID: "00000000-0000-0000-0000-000000000000"}
	if _, err := guard.ApproveVault(ctx, other, v.Receiver()); !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "not the recorded") {
		t.Errorf("ApproveVault with another cluster_id = %v", err)
	}

	// Sealed: approved pending; only unseal works until VerifyClusterID.
	if err := c.Sys().SealWithContext(ctx); err != nil {
		t.Fatalf("seal: %v", err)
	}
	for _, tc := range []struct {
		rec     guard.Record
		matches bool
	}{{other, false}, {rec, true}} {
		pa, err := guard.ApproveVault(ctx, tc.rec, v.Receiver())
		if err != nil || pa.Verified() {
			t.Fatalf("ApproveVault(sealed) = %v (verified %v)", err, pa.Verified())
		}
		pc, _ := pa.Client()
		pc.SetToken(root)
		if _, err := pc.Sys().ListMountsWithContext(ctx); !errors.Is(err, guard.ErrRefused) {
			t.Errorf("mounts while pending = %v, want refusal", err)
		}
		if _, err := pc.Sys().UnsealWithContext(ctx, unsealKey); err != nil {
			t.Fatalf("unseal while pending: %v", err)
		}
		err = pa.VerifyClusterID(ctx)
		if tc.matches {
			if err != nil {
				t.Fatalf("VerifyClusterID: %v", err)
			}
			if _, err := pc.Sys().ListMountsWithContext(ctx); err != nil {
				t.Errorf("mounts after VerifyClusterID: %v", err)
			}
		} else {
			if !errors.Is(err, guard.ErrRefused) {
				t.Errorf("VerifyClusterID with another recorded id = %v, want refusal", err)
			}
			if _, err := pc.Sys().ListMountsWithContext(ctx); !errors.Is(err, guard.ErrRefused) {
				t.Errorf("mounts after a failed verification = %v, want refusal", err)
			}
			if err := c.Sys().SealWithContext(ctx); err != nil { // back to sealed for the next case
				t.Fatalf("seal: %v", err)
			}
		}
	}
}

// TestIntegrationKube runs the kube half of the guard against a real
// kube-apiserver: approve the context offline, write the marker during up,
// then trust only a cluster carrying the sandbox UUID.
func TestIntegrationKube(t *testing.T) {
	ctx := context.Background()
	s := testenv.KubeAPIServer(t)
	name := guard.ContextName("itest")
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := s.WriteKubeconfig(kubeconfig, name); err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(s.CAPEM)
	sum := sha256.Sum256(blk.Bytes)
	rec := guard.Record{Name: "itest", UUID: itUUID, StateDir: dir, Kube: &guard.KubeRecord{
		Context: name, Cluster: name, User: name, Server: s.Host, CAFingerprint: hex.EncodeToString(sum[:]),
	}}
	admin, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}

	// During up: no marker yet. Connect returns a pending client; nothing but
	// WriteMarker works, then everything does.
	a, rep, err := guard.ApproveKube(rec, []string{kubeconfig}, name)
	if err != nil {
		t.Fatalf("ApproveKube: %v\n%+v", err, rep)
	}
	k, err := a.Connect(ctx, rec)
	if err != nil || k.Verified() {
		t.Fatalf("Connect (marker not written) = %v, verified %v", err, k.Verified())
	}
	cfg, _ := a.RESTConfig()
	early := kubernetes.NewForConfigOrDie(cfg)
	if _, err := early.CoreV1().Namespaces().Create(ctx, &refusedNamespace, metav1.CreateOptions{}); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("create before the marker = %v, want refusal", err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, refusedNamespace.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused namespace exists: %v", err)
	}
	if err := k.WriteMarker(ctx); err != nil {
		t.Fatalf("WriteMarker: %v", err)
	}
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list after WriteMarker: %v", err)
	}
	cm, err := admin.CoreV1().ConfigMaps(guard.MarkerNamespace).Get(ctx, guard.MarkerName, metav1.GetOptions{})
	if err != nil || cm.Data[guard.MarkerUUIDKey] != itUUID {
		t.Fatalf("marker = %+v, %v", cm, err)
	}

	// After up: the marker must match.
	rec.Kube.MarkerWritten = true
	connect := func(r guard.Record) error {
		a, _, err := guard.ApproveKube(r, []string{kubeconfig}, name)
		if err != nil {
			return err
		}
		_, err = a.Connect(ctx, r)
		return err
	}
	if err := connect(rec); err != nil {
		t.Errorf("Connect with the marker: %v", err)
	}
	if rep := guard.Check(ctx, rec, guard.Target{Kubeconfig: []string{kubeconfig}, Context: name}, guard.CheckOptions{}); !rep.Approved {
		t.Errorf("Check: %s", rep.Reason)
	}
	other := rec
	other.UUID = "another-uuid"
	if err := connect(other); !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "another sandbox") {
		t.Errorf("Connect with another UUID = %v", err)
	}
	pendingOther := other
	pendingOther.Kube = &guard.KubeRecord{}
	*pendingOther.Kube = *rec.Kube
	pendingOther.Kube.MarkerWritten = false
	if err := connect(pendingOther); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("Connect during another sandbox's up over an existing marker = %v", err)
	}
	if err := admin.CoreV1().ConfigMaps(guard.MarkerNamespace).Delete(ctx, guard.MarkerName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := connect(rec); !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "has no marker") {
		t.Errorf("Connect without the marker = %v", err)
	}
	if rep := guard.Check(ctx, rec, guard.Target{Kubeconfig: []string{kubeconfig}, Context: name}, guard.CheckOptions{}); rep.Approved {
		t.Error("Check approved a cluster without the marker")
	}
}

// TestIntegrationVaultAdopt: an up interrupted between Vault's init and the record of
// its cluster_id adopts its Vault only with the key it saved: another initialisation's
// key (or root token) is refused and leaves the Vault sealed.
func TestIntegrationVaultAdopt(t *testing.T) {
	ctx := context.Background()
	mine, other := testenv.Vault(t), testenv.Vault(t)
	keysOf := func(v *testenv.VaultServer) (string, string) {
		rec := guard.Record{Name: "adopt", UUID: itUUID, StateDir: t.TempDir(), Vault: &guard.VaultRecord{Addr: v.Addr}}
		a, err := guard.ApproveVaultInit(ctx, rec, v.Addr, v.Receiver())
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.Client()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		return resp.KeysB64[0], resp.RootToken
	}
	myKey, myRoot := keysOf(mine)
	otherKey, otherRoot := keysOf(other)
	rec := guard.Record{Name: "adopt", UUID: itUUID, StateDir: t.TempDir(), Vault: &guard.VaultRecord{Addr: mine.Addr}}

	if _, err := guard.ApproveVaultAdopt(ctx, rec, mine.Addr, mine.Receiver(), []string{otherKey}, otherRoot); !errors.Is(err, guard.ErrRefused) {
		t.Fatalf("adopt with another initialisation's key = %v", err)
	}
	id, err := guard.ApproveVaultAdopt(ctx, rec, mine.Addr, mine.Receiver(), []string{myKey}, myRoot)
	if err != nil || id == "" {
		t.Fatalf("adopt with the saved key = %q, %v", id, err)
	}
	// Unsealed now: the saved root token proves it; another one does not.
	if _, err := guard.ApproveVaultAdopt(ctx, rec, mine.Addr, mine.Receiver(), nil, otherRoot); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("adopt an unsealed Vault with another root token = %v", err)
	}
	again, err := guard.ApproveVaultAdopt(ctx, rec, mine.Addr, mine.Receiver(), nil, myRoot)
	if err != nil || again != id {
		t.Errorf("adopt an unsealed Vault with the saved root token = %q, %v (want %q)", again, err, id)
	}
	rec.Vault.ClusterID = id
	if _, err := guard.ApproveVault(ctx, rec, mine.Receiver()); err != nil {
		t.Errorf("ApproveVault after adoption: %v", err)
	}
	if _, err := guard.ApproveVaultAdopt(ctx, rec, mine.Addr, mine.Receiver(), []string{myKey}, myRoot); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("adopt a Vault whose cluster_id is recorded = %v", err)
	}
}
