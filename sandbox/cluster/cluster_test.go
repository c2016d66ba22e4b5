package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/e2e/kubetest"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
)

func TestValidateRefusesUnchosenPorts(t *testing.T) {
	o := Options{Sandbox: "demo", UUID: "u", Servers: 1, Image: "rancher/k3s:v1.34.2-k3s1", APIPort: 36443, PostgresPort: 35432}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "vault host port 0") {
		t.Errorf("Validate with port 0 = %v", err)
	}
	o.VaultPort = 38200
	if err := o.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

// TestKubeRecordApprovedByGuard: a kubeconfig shaped like k3d's, written with
// WriteKubeconfig and recorded with KubeRecord, is approved by the guard offline;
// the same file with another CA is refused.
func TestKubeRecordApprovedByGuard(t *testing.T) {
	ca, err := os.ReadFile("../../fixtures/guard/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	ctxName := guard.ContextName("demo")
	kc := kubetest.K3dKubeconfig("demo", "https://127.0.0.1:36443", ca)
	dir := t.TempDir()
	p := filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(p, kc); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode: %v %v", fi.Mode(), err)
	}
	kr, err := KubeRecord(kc, ctxName)
	if err != nil {
		t.Fatal(err)
	}
	if kr.User != "admin@k3d-labsbx-demo" || kr.Cluster != ctxName || kr.Server != "https://127.0.0.1:36443" || len(kr.CAFingerprint) != 64 {
		t.Errorf("KubeRecord = %+v", kr)
	}
	rec := guard.Record{Name: "demo", UUID: "8d0c4f0e-3a57-4d7e-9a43-2b1f0c6d9e21", StateDir: dir, Kube: kr}
	if _, rep, err := guard.ApproveKube(rec, []string{p}, ctxName); err != nil {
		t.Fatalf("ApproveKube: %v\n%+v", err, rep)
	}
	other, err := os.ReadFile("../../fixtures/guard/other-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKubeconfig(p, kubetest.K3dKubeconfig("demo", "https://127.0.0.1:36443", other)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := guard.ApproveKube(rec, []string{p}, ctxName); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("ApproveKube with another CA = %v, want a refusal", err)
	}
	if _, err := KubeRecord(kc, "k3d-labsbx-other"); err == nil {
		t.Error("KubeRecord of a missing context succeeded")
	}
}

// The embedded default names the helper and VSO images labsbx pins.
func TestDefaultImagesArePinned(t *testing.T) {
	s := config.DefaultSpec()
	for _, c := range []struct{ field, got, want string }{
		{"spec.cluster.toolsImage", s.Cluster.ToolsImage, ToolsImage()},
		{"spec.cluster.loadBalancerImage", s.Cluster.LoadBalancerImage, LoadBalancerImage()},
		{"spec.vso.image", s.VSO.Image, charts.VSOImage},
		{"spec.vso.kubeRbacProxyImage", s.VSO.KubeRbacProxyImage, charts.KubeRbacProxyImage},
	} {
		if c.got != c.want {
			t.Errorf("default %s = %q, want the pinned %q", c.field, c.got, c.want)
		}
	}
}
