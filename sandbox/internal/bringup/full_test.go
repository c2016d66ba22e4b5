package bringup

import (
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/config"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestVaultRollsOnChange: the Vault release replaces its pod when its spec changes
// (the chart's default, OnDelete, would leave the old pod running), and up waits for
// the replacement, which starts sealed, before it unseals.
func TestVaultRollsOnChange(t *testing.T) {
	var vault FullRelease
	for _, r := range FullReleases(config.DefaultSpec()) {
		if r.Name == "vault" {
			vault = r
		}
	}
	server, _ := vault.Values["server"].(map[string]any)
	if got := server["updateStrategyType"]; got != "RollingUpdate" {
		t.Errorf("vault chart server.updateStrategyType = %v, want RollingUpdate", got)
	}
	var names []string
	for _, s := range FullSteps("t", config.DefaultSpec(), false) {
		names = append(names, s.Name)
	}
	steps := strings.Join(names, "\n")
	release, wait, unseal := strings.Index(steps, "as release vault/vault"), strings.Index(steps, "Waiting for Vault's pod"), strings.Index(steps, "Initialising and unsealing Vault")
	if release < 0 || wait < release || unseal < wait {
		t.Errorf("steps: want the Vault release, then the wait for its pod, then the unseal:\n%s", steps)
	}

	one := int32(1)
	ss := func(gen, observed int64, current, update string, updated, ready int32) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.StatefulSetSpec{Replicas: &one},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, CurrentRevision: current, UpdateRevision: update,
				UpdatedReplicas: updated, ReadyReplicas: ready}}
	}
	for _, tc := range []struct {
		name string
		ss   *appsv1.StatefulSet
		want string // "" when rolled out
	}{
		{"new spec not seen yet", ss(2, 1, "vault-a", "vault-a", 1, 1), "controller to see the new spec"},
		{"old pod still running", ss(2, 2, "vault-a", "vault-b", 0, 1), "0 of 1 pods run revision vault-b"},
		{"new pod not ready", ss(2, 2, "vault-b", "vault-b", 1, 0), "0 of 1 pods ready"},
		{"rolled out", ss(2, 2, "vault-b", "vault-b", 1, 1), ""},
	} {
		ok, why := statefulSetRolledOut(tc.ss)
		if ok != (tc.want == "") || (tc.want != "" && !strings.Contains(why, tc.want)) {
			t.Errorf("%s: %v, %q; want %q", tc.name, ok, why, tc.want)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for in, want := range map[string][2]string{
		"hashicorp/vault:1.21.0":           {"hashicorp/vault", "1.21.0"},
		"registry.local:5000/vault":        {"registry.local:5000/vault", "latest"},
		"registry.local:5000/vault:1.21.0": {"registry.local:5000/vault", "1.21.0"},
		"labsbx.local/vault:1.21.0":        {"labsbx.local/vault", "1.21.0"},
	} {
		if r, tag := splitImage(in); r != want[0] || tag != want[1] {
			t.Errorf("splitImage(%q) = %q, %q", in, r, tag)
		}
	}
}
