package vso

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/arcodange/labsbx/e2e/kubetest"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// TestIntegrationObserver reads the app's side from a real kube-apiserver. Nothing
// runs VSO or the deployment controller there, so the test writes what they would:
// the VaultDynamicSecret's status and Events (VSO), the Secret's credentials (VSO),
// the pod template annotation (VSO's rollout-restart) and the Deployment's status
// (the controller). The observer's reads, field selectors and status subresource are
// the API server's own.
func TestIntegrationObserver(t *testing.T) {
	c := kubetest.New(t, "vso")
	if _, err := New(c.Kube); !errors.Is(err, guard.ErrRefused) {
		t.Fatalf("New before the marker = %v, want a refusal", err)
	}
	c.WriteMarker(t)
	kubetest.InstallScaffoldCRDs(t, c.Kube)
	obs, err := New(c.Kube)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const app = "webapp"
	vso := &vsoPlayer{t: t, c: c, app: app}
	vso.createApp()

	s, err := obs.State(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := Healthy(s); err == nil || !strings.Contains(err.Error(), "holds no lease") || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("Healthy of a fresh app = %v", err)
	}

	// Creation, as VSO v0.10.0 does it: two syncs within milliseconds, each with its
	// rollout-restart.
	vso.sync("postgres/creds/webapp/AA0", "v-kubernetes-webapp-aa0", "pw-zero", "client-1")
	vso.event("SecretSynced", corev1.EventTypeNormal, `Secret synced, lease_id="postgres/creds/webapp/AA0", horizon=41s, sync_reason="InitialSync"`)
	vso.event("RolloutRestartTriggered", corev1.EventTypeNormal, "Rollout restart triggered for {Deployment webapp}")
	vso.sync("postgres/creds/webapp/AAA", "v-kubernetes-webapp-aaa", "pw-one", "client-1")
	vso.rolledOut(1, 1)
	before, err := obs.State(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := Healthy(before); err != nil {
		t.Fatalf("Healthy after sync: %v (%+v)", err, before)
	}
	if before.LeaseID != "postgres/creds/webapp/AAA" || before.SecretUser != "v-kubernetes-webapp-aaa" || before.LastRenewal.IsZero() ||
		before.LeaseDuration != time.Minute || before.VaultClientID != "client-1" {
		t.Errorf("state after sync: %+v", before)
	}
	if from, to, ok := RenewalWindow(before); !ok || !from.Equal(before.LastRenewal.Add(40200*time.Millisecond)) || !to.Equal(before.LastRenewal.Add(48*time.Second)) {
		t.Errorf("renewal window %v–%v (%v) after a renewal at %v", from, to, ok, before.LastRenewal)
	}
	if !before.PodsReadySince.IsZero() {
		t.Errorf("ready since %v without any pod", before.PodsReadySince)
	}
	readyAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	vso.pod("webapp-1", readyAt)
	if s, err := obs.State(ctx, app); err != nil || !s.PodsReadySince.Equal(readyAt) {
		t.Errorf("pods ready since %v (%v), want %v", s.PodsReadySince, err, readyAt)
	}
	vso.pod("webapp-2", time.Time{}) // a pod not ready yet
	if s, _ := obs.State(ctx, app); !s.PodsReadySince.IsZero() {
		t.Errorf("pods ready since %v while one is not ready", s.PodsReadySince)
	}

	// Rotation: VSO fails twice, logs in again, takes a new lease and credentials,
	// then restarts the app. Its recorder merges identical Events: the second sync
	// error and the second RolloutRestartTriggered (same text as at creation) only
	// grow a count.
	since := vso.now()
	vso.event("SecretLeaseRenewal", corev1.EventTypeNormal, "Not in renewal window after transitioning to a new leader/pod, lease_id=postgres/creds/webapp/AAA, horizon=12s")
	for range 2 {
		vso.event("SecretSyncError", corev1.EventTypeWarning, "Failed to sync the secret, horizon=5s, err=Vault is sealed")
	}
	vso.sync("postgres/creds/webapp/BBB", "v-kubernetes-webapp-bbb", "pw-two", "client-2")
	vso.event("SecretRotated", corev1.EventTypeNormal, `Secret synced, lease_id="postgres/creds/webapp/BBB", horizon=40s, sync_reason="VaultTokenRotated"`)
	vso.restart("2026-11-27T05:00:00Z")
	vso.event("RolloutRestartTriggered", corev1.EventTypeNormal, "Rollout restart triggered for {Deployment webapp}")
	now, err := obs.State(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := Rotated(before, now); err == nil || !strings.Contains(err.Error(), "controller to see the new spec") {
		t.Fatalf("Rotated before the rollout = %v", err)
	}
	vso.rolledOut(2, 1) // new pod up, old one terminating
	now, _ = obs.State(ctx, app)
	if err := Rotated(before, now); err == nil || !strings.Contains(err.Error(), "old replicas pending") {
		t.Fatalf("Rotated during the rollout = %v", err)
	}
	vso.rolledOut(1, 1)
	now, _ = obs.State(ctx, app)
	if err := Rotated(before, now); err != nil {
		t.Fatalf("Rotated after the rollout: %v (%+v)", err, now)
	}
	if err := Rotated(now, now); err == nil {
		t.Fatal("Rotated accepted an unchanged app")
	}

	if now.VaultClientID != "client-2" {
		t.Errorf("client ID after the new login: %q", now.VaultClientID)
	}

	events, err := obs.Events(ctx, app, since)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range events {
		reasons = append(reasons, e.Reason)
	}
	if want := []string{ReasonSecretLeaseRenewal, ReasonSecretSyncError, ReasonSecretRotated, ReasonRolloutRestartTriggered}; !slices.Equal(reasons, want) {
		t.Fatalf("Events since the fault = %v, want %v (the creation's SecretSynced is older)", reasons, want)
	}
	notInWindow, syncErr, rotated, restart := events[0], events[1], events[2], events[3]
	if e, ok := First(events, ErrorReasons...); !ok || e.Type != corev1.EventTypeWarning || e.Count != 2 {
		t.Errorf("First error event = %+v, %v", e, ok)
	}
	// A repeat inside the window: its first sighting is in the window too.
	if syncErr.Count != 2 || !syncErr.First.Before(syncErr.Time) || !syncErr.FirstSince(since).Equal(syncErr.First) {
		t.Errorf("repeated sync error: %+v", syncErr)
	}
	// A repeat of an Event first seen at creation: only its last sighting is in the
	// window, and it is dated by that.
	if restart.Count != 2 || !restart.First.Before(since.Truncate(time.Second)) || !restart.FirstSince(since).Equal(restart.Time) || !restart.Repeated() {
		t.Errorf("RolloutRestartTriggered seen at creation and after the fault: %+v (since %v)", restart, since)
	}
	if notInWindow.SyncedOrRenewed() || !rotated.SyncedOrRenewed() || rotated.SyncReason() != SyncReasonVaultTokenRotated {
		t.Errorf("not-in-window %+v counts as a sync, or the rotation %+v does not (reason %q)", notInWindow, rotated, rotated.SyncReason())
	}
	if old, _ := obs.Events(ctx, app, vso.now().Add(time.Hour)); len(old) != 0 {
		t.Errorf("Events in the future = %+v", old)
	}

	// The observer never carries a password.
	b, _ := json.Marshal([]any{before, now, events})
	for _, pw := range []string{"pw-zero", "pw-one", "pw-two"} {
		if strings.Contains(string(b), pw) {
			t.Errorf("observed state contains the password %q: %s", pw, b)
		}
	}
}

// vsoPlayer writes, with the test's admin client, what VSO and the deployment
// controller would.
type vsoPlayer struct {
	t     *testing.T
	c     *kubetest.Cluster
	app   string
	clock time.Time // VSO's clock: core/v1 Event times have second precision
}

// now is the player's clock; each Event moves it on by a second, so that every Event
// has a second of its own.
func (p *vsoPlayer) now() time.Time {
	if p.clock.IsZero() {
		p.clock = time.Now().Truncate(time.Second).Add(time.Second)
	}
	return p.clock
}

func (p *vsoPlayer) dyn() dynamic.Interface {
	d, err := dynamic.NewForConfig(p.c.Server.Config)
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

func (p *vsoPlayer) createApp() {
	ctx, a := p.t.Context(), p.c.Admin
	if _, err := a.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.app}}, metav1.CreateOptions{}); err != nil {
		p.t.Fatal(err)
	}
	vds := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": "VaultDynamicSecret",
		"metadata": map[string]any{"name": DynamicSecretName(p.app), "namespace": p.app},
		"spec": map[string]any{"mount": "postgres", "path": "creds/" + p.app,
			"destination":           map[string]any{"name": SecretName(p.app), "create": true},
			"rolloutRestartTargets": []any{map[string]any{"kind": "Deployment", "name": p.app}}},
	}}
	if _, err := p.dyn().Resource(VaultDynamicSecrets).Namespace(p.app).Create(ctx, vds, metav1.CreateOptions{}); err != nil {
		p.t.Fatal(err)
	}
	one := int32(1)
	labels := map[string]string{"app": p.app}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: p.app, Namespace: p.app},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "labsbx.local/postgres:15"}}}}},
	}
	if _, err := a.AppsV1().Deployments(p.app).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		p.t.Fatal(err)
	}
}

// sync is VSO getting new credentials with the Vault login clientID: the status it
// writes (the whole of what VSO's schema requires), the Secret's data.
func (p *vsoPlayer) sync(lease, user, password, clientID string) {
	ctx := p.t.Context()
	r := p.dyn().Resource(VaultDynamicSecrets).Namespace(p.app)
	vds, err := r.Get(ctx, DynamicSecretName(p.app), metav1.GetOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	vds.Object["status"] = map[string]any{
		"lastGeneration":  vds.GetGeneration(),
		"lastRenewalTime": p.now().Unix(),
		"secretLease": map[string]any{"id": lease, "duration": int64(60), "renewable": true,
			"requestID": "3f1c0a52-7b1e-4c59-9d11-" + fmt.Sprintf("%012x", p.now().UnixNano()%(1<<48))},
		"vaultClientMeta": map[string]any{"id": clientID, "cacheKey": "kubernetes-0123456789abcdef"},
	}
	if _, err := r.UpdateStatus(ctx, vds, metav1.UpdateOptions{}); err != nil {
		p.t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName(p.app), Namespace: p.app},
		Data: map[string][]byte{"username": []byte(user), "password": []byte(password)}}
	secrets := p.c.Admin.CoreV1().Secrets(p.app)
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			p.t.Fatal(err)
		}
	}
}

// pod is the kubelet's view of one pod of the app: Ready since readyAt (not ready when
// zero).
func (p *vsoPlayer) pod(name string, readyAt time.Time) {
	ctx := p.t.Context()
	pods := p.c.Admin.CoreV1().Pods(p.app)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.app, Labels: map[string]string{"app": p.app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "labsbx.local/postgres:15"}}}}
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	cond := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(time.Now())}
	if !readyAt.IsZero() {
		cond.Status, cond.LastTransitionTime = corev1.ConditionTrue, metav1.NewTime(readyAt)
	}
	created.Status.Conditions = []corev1.PodCondition{cond}
	if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		p.t.Fatal(err)
	}
}

// restart is VSO's rollout-restart: the annotation on the pod template.
func (p *vsoPlayer) restart(at string) {
	patch := `{"spec":{"template":{"metadata":{"annotations":{"` + AnnotationRestartedAt + `":"` + at + `"}}}}}`
	if _, err := p.c.Admin.AppsV1().Deployments(p.app).Patch(p.t.Context(), p.app, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		p.t.Fatal(err)
	}
}

// rolledOut is the deployment controller's status: replicas pods, updated of them new.
func (p *vsoPlayer) rolledOut(replicas, updated int32) {
	ctx := p.t.Context()
	d, err := p.c.Admin.AppsV1().Deployments(p.app).Get(ctx, p.app, metav1.GetOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: updated,
		ReadyReplicas: replicas, AvailableReplicas: replicas}
	if _, err := p.c.Admin.AppsV1().Deployments(p.app).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		p.t.Fatal(err)
	}
}

// event is VSO's event recorder on the VaultDynamicSecret; an Event on another object
// goes with it, which the observer must not return. Like client-go's recorder, which
// VSO uses, it merges an Event identical to an earlier one (same object, type, reason
// and message) into that one: the count grows and lastTimestamp moves, while
// firstTimestamp stays at the first occurrence.
func (p *vsoPlayer) event(reason, typ, msg string) {
	ctx := p.t.Context()
	at := metav1.NewTime(p.now())
	p.clock = p.clock.Add(time.Second)
	events := p.c.Admin.CoreV1().Events(p.app)
	for _, obj := range []corev1.ObjectReference{
		{Kind: "VaultDynamicSecret", Namespace: p.app, Name: DynamicSecretName(p.app), APIVersion: "secrets.hashicorp.com/v1beta1"},
		{Kind: "VaultStaticSecret", Namespace: p.app, Name: p.app + "-config", APIVersion: "secrets.hashicorp.com/v1beta1"},
	} {
		list, err := events.List(ctx, metav1.ListOptions{})
		if err != nil {
			p.t.Fatal(err)
		}
		merged := false
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == obj.Kind && e.InvolvedObject.Name == obj.Name && e.Type == typ && e.Reason == reason && e.Message == msg {
				e.Count++
				e.LastTimestamp = at
				if _, err := events.Update(ctx, &e, metav1.UpdateOptions{}); err != nil {
					p.t.Fatal(err)
				}
				merged = true
				break
			}
		}
		if merged {
			continue
		}
		e := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", obj.Name, at.UnixNano()), Namespace: p.app},
			InvolvedObject: obj, Reason: reason, Type: typ, Message: msg, Count: 1,
			FirstTimestamp: at, LastTimestamp: at, Source: corev1.EventSource{Component: "vault-secrets-operator"},
		}
		if _, err := events.Create(ctx, e, metav1.CreateOptions{}); err != nil {
			p.t.Fatal(err)
		}
	}
}
