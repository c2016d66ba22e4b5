package kubetest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// TestIntegrationScaffoldEnforces: a real kube-apiserver holding the stand-ins
// prunes, defaults and rejects as it would with VSO's own CRDs.
func TestIntegrationScaffoldEnforces(t *testing.T) {
	c := New(t, "crds")
	c.WriteMarker(t)
	InstallScaffoldCRDs(t, c.Kube)
	ctx := t.Context()
	const ns = "webapp"
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Server.Config)
	if err != nil {
		t.Fatal(err)
	}
	res := func(plural string) dynamic.ResourceInterface {
		return dyn.Resource(schema.GroupVersionResource{Group: "secrets.hashicorp.com", Version: "v1beta1", Resource: plural}).Namespace(ns)
	}
	obj := func(kind, name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": kind,
			"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec,
		}}
	}
	mustFail := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error about %q", what, err, want)
		}
	}

	// VaultDynamicSecret: unknown fields pruned, defaults set, enum enforced.
	vdsSpec := func(kind string) map[string]any {
		return map[string]any{"mount": "postgres", "path": "creds/webapp", "bogus": "x",
			"destination":           map[string]any{"name": "webapp-db", "bogus": "x"},
			"rolloutRestartTargets": []any{map[string]any{"kind": kind, "name": "webapp"}}}
	}
	vds, err := res("vaultdynamicsecrets").Create(ctx, obj("VaultDynamicSecret", "webapp-db", vdsSpec("Deployment")), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(vds.Object, "spec", "bogus"); found {
		t.Error("spec.bogus was kept; VSO's CRD prunes it")
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(vds.Object, "spec", "destination", "bogus"); found {
		t.Error("spec.destination.bogus was kept")
	}
	create, _, _ := unstructured.NestedBool(vds.Object, "spec", "destination", "create")
	overwrite, found, _ := unstructured.NestedBool(vds.Object, "spec", "destination", "overwrite")
	pct, _, _ := unstructured.NestedInt64(vds.Object, "spec", "renewalPercent")
	if create || overwrite || !found || pct != 67 {
		t.Errorf("defaults: create %v overwrite %v (set %v) renewalPercent %d", create, overwrite, found, pct)
	}
	_, err = res("vaultdynamicsecrets").Create(ctx, obj("VaultDynamicSecret", "rs", vdsSpec("ReplicaSet")), metav1.CreateOptions{})
	mustFail("restart target ReplicaSet", err, "Unsupported value")
	if _, err := res("vaultdynamicsecrets").Create(ctx, obj("VaultDynamicSecret", "argo", vdsSpec("argo.Rollout")), metav1.CreateOptions{}); err != nil {
		t.Errorf("restart target argo.Rollout: %v", err)
	}

	// Its status: only through the subresource, and only whole.
	lease := map[string]any{"id": "postgres/creds/webapp/a", "duration": int64(60), "renewable": true, "requestID": "5c1c4c7e-0000-0000-0000-000000000001"}
	status := func(drop ...string) map[string]any {
		s := map[string]any{"lastGeneration": vds.GetGeneration(), "lastRenewalTime": int64(1764220000), "secretLease": lease}
		for _, d := range drop {
			if l, ok := strings.CutPrefix(d, "secretLease."); ok {
				l2 := map[string]any{}
				for k, v := range lease {
					if k != l {
						l2[k] = v
					}
				}
				s["secretLease"] = l2
				continue
			}
			delete(s, d)
		}
		return s
	}
	for _, drop := range []string{"secretLease.requestID", "lastGeneration", "lastRenewalTime", "secretLease"} {
		v := vds.DeepCopy()
		v.Object["status"] = status(drop)
		_, err := res("vaultdynamicsecrets").UpdateStatus(ctx, v, metav1.UpdateOptions{})
		mustFail("status without "+drop, err, "Required value")
	}
	v := vds.DeepCopy()
	v.Object["status"] = status()
	if _, err := res("vaultdynamicsecrets").UpdateStatus(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("a whole status: %v", err)
	}
	got, err := res("vaultdynamicsecrets").Get(ctx, "webapp-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Object["status"] = map[string]any{"lastGeneration": int64(99), "lastRenewalTime": int64(1), "secretLease": lease}
	if got, err = res("vaultdynamicsecrets").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if g, _, _ := unstructured.NestedInt64(got.Object, "status", "lastGeneration"); g != vds.GetGeneration() {
		t.Errorf("a main-resource update changed the status (lastGeneration %d): there must be a status subresource", g)
	}

	// VaultConnection: skipTLSVerify is required and defaulted.
	vc, err := res("vaultconnections").Create(ctx, obj("VaultConnection", "default", map[string]any{"address": "http://vault.vault.svc:8200"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if skip, found, _ := unstructured.NestedBool(vc.Object, "spec", "skipTLSVerify"); skip || !found {
		t.Errorf("skipTLSVerify %v (set %v), want defaulted to false", skip, found)
	}
	_, err = res("vaultconnections").Create(ctx, obj("VaultConnection", "noaddr", map[string]any{"skipTLSVerify": true}), metav1.CreateOptions{})
	mustFail("VaultConnection without address", err, "Required value")
	vc.Object["status"] = map[string]any{}
	_, err = res("vaultconnections").UpdateStatus(ctx, vc, metav1.UpdateOptions{})
	mustFail("VaultConnection status without valid", err, "Required value")

	// VaultAuth: the method enum, and a status subresource.
	_, err = res("vaultauths").Create(ctx, obj("VaultAuth", "bad", map[string]any{"method": "token"}), metav1.CreateOptions{})
	mustFail("VaultAuth method token", err, "Unsupported value")
	va, err := res("vaultauths").Create(ctx, obj("VaultAuth", "webapp", map[string]any{"method": "kubernetes", "mount": "kubernetes",
		"kubernetes": map[string]any{"role": "webapp", "serviceAccount": "webapp", "bogus": "x"}}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if exp, _, _ := unstructured.NestedInt64(va.Object, "spec", "kubernetes", "tokenExpirationSeconds"); exp != 600 {
		t.Errorf("tokenExpirationSeconds %d, want defaulted to 600", exp)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(va.Object, "spec", "kubernetes", "bogus"); found {
		t.Error("spec.kubernetes.bogus was kept")
	}
	va.Object["status"] = map[string]any{"valid": true, "error": ""}
	if _, err := res("vaultauths").UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		t.Errorf("VaultAuth status: %v", err)
	}

	// VaultStaticSecret: the type enum, and a status that needs lastGeneration.
	vssSpec := func(typ string) map[string]any {
		return map[string]any{"mount": "kvv2", "path": "webapp/config", "type": typ, "destination": map[string]any{"name": "webapp-config"}}
	}
	_, err = res("vaultstaticsecrets").Create(ctx, obj("VaultStaticSecret", "v3", vssSpec("kv-v3")), metav1.CreateOptions{})
	mustFail("VaultStaticSecret type kv-v3", err, "Unsupported value")
	vss, err := res("vaultstaticsecrets").Create(ctx, obj("VaultStaticSecret", "webapp-config", vssSpec("kv-v2")), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _ := unstructured.NestedBool(vss.Object, "spec", "hmacSecretData"); !h {
		t.Error("hmacSecretData not defaulted to true")
	}
	vss.Object["status"] = map[string]any{"secretMAC": "x"}
	_, err = res("vaultstaticsecrets").UpdateStatus(ctx, vss, metav1.UpdateOptions{})
	mustFail("VaultStaticSecret status without lastGeneration", err, "Required value")
}
