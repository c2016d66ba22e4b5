package bringup

import (
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

// TestStuckOnOldRevision: only a pod of an older revision that is not Ready is
// replaced by hand; the controller rolls a Ready one itself.
func TestStuckOnOldRevision(t *testing.T) {
	ss := &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{UpdateRevision: "vault-new"}}
	pod := func(rev string, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "vault-0", Labels: map[string]string{appsv1.StatefulSetRevisionLabel: rev}},
			Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
		}
	}
	for _, c := range []struct {
		pod  *corev1.Pod
		want bool
	}{
		{pod("vault-old", false), true},
		{pod("vault-old", true), false},
		{pod("vault-new", false), false},
		{pod("", false), false},
	} {
		if got := stuckOnOldRevision(ss, c.pod); got != c.want {
			t.Errorf("revision %q ready %v: stuck %v, want %v", c.pod.Labels[appsv1.StatefulSetRevisionLabel], podReady(c.pod), got, c.want)
		}
	}
}

// TestCannotStart: a crash loop counts after two restarts; a missing image at once.
func TestCannotStart(t *testing.T) {
	waiting := func(reason string, restarts int32) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "vault", RestartCount: restarts,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 127, Reason: "Error"}},
		}}}}
	}
	for _, c := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{waiting("ContainerCreating", 0), ""},
		{waiting("CrashLoopBackOff", 1), ""},
		{waiting("CrashLoopBackOff", 2), "CrashLoopBackOff after 2 restarts (last exit 127: Error)"},
		{waiting("ErrImageNeverPull", 0), "ErrImageNeverPull"},
		{&corev1.Pod{}, ""},
	} {
		err := cannotStart(c.pod)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.pod.Status.ContainerStatuses, err, c.want)
		}
	}
}
