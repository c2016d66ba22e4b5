// Package vso observes the app's side of the full profile: what the Vault Secrets
// Operator did with each app's dynamic Postgres credentials (the VaultDynamicSecret's
// lease and Events, the Kubernetes Secret it writes) and whether the demo app rolled
// and is ready. The drills use it to verify recovery as an app sees it.
//
// It reads only through a guard-verified connection, and never reads a password: of
// the credentials Secret it takes the username and the resourceVersion.
package vso

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// VaultDynamicSecrets is VSO's VaultDynamicSecret resource.
var VaultDynamicSecrets = schema.GroupVersionResource{Group: "secrets.hashicorp.com", Version: "v1beta1", Resource: "vaultdynamicsecrets"}

// Event reasons VSO records on a VaultDynamicSecret.
const (
	ReasonSecretSynced            = "SecretSynced"
	ReasonSecretRotated           = "SecretRotated"
	ReasonSecretSyncError         = "SecretSyncError"
	ReasonSecretLeaseRenewal      = "SecretLeaseRenewal"
	ReasonSecretLeaseRenewalError = "SecretLeaseRenewalError"
	ReasonVaultClientConfigError  = "VaultClientConfigError"
	ReasonVaultClientError        = "VaultClientError"
	ReasonRolloutRestartTriggered = "RolloutRestartTriggered"
	ReasonRolloutRestartFailed    = "RolloutRestartFailed"
)

// ErrorReasons are the reasons of the Events VSO records on a VaultDynamicSecret when
// it cannot get or sync the credentials. VaultClientError is not one of them: VSO
// v0.10.0 records it on a VaultStaticSecret only (while Vault is sealed, say), never
// on a VaultDynamicSecret, so nothing here waits for it. Nor does a revoked lease
// leave one: VSO treats "lease not found" silently and the next Event is
// SecretRotated with sync_reason="SecretLeaseRenewalError".
var ErrorReasons = []string{ReasonSecretSyncError, ReasonSecretLeaseRenewalError, ReasonVaultClientConfigError, ReasonRolloutRestartFailed}

// Sync reasons VSO v0.10.0 writes into a SecretSynced or SecretRotated Event's message
// (sync_reason="…"): why it took new credentials.
const (
	SyncReasonInitial           = "InitialSync"
	SyncReasonRenewalError      = "SecretLeaseRenewalError" // the lease could not be renewed (revoked, expired, database broken)
	SyncReasonVaultTokenRotated = "VaultTokenRotated"       // VSO logged in afresh (after its own restart, say)
)

// VSO's timing, as v0.10.0 behaves with the demo app's VaultDynamicSecret
// (renewalPercent left at its default, 67):
//   - it renews a lease once 67 % of its duration has passed, plus jitter: measured
//     42–46 s into a 60 s lease. A lease that was revoked, or a database that cannot
//     renew it, is noticed only then;
//   - after a failed sync it backs off from 5 s, doubling, to SyncBackoffMax;
//   - a VSO that restarts (a cluster power cycle) logs in to Vault afresh, with the
//     chart's default client cache, and then rotates every app
//     (sync_reason="VaultTokenRotated");
//   - it never revokes the lease it replaces: the old Postgres user lives to its TTL;
//   - on creation it syncs twice within milliseconds (its first reconcile bumps the
//     status generation): two leases, two rollout-restarts.
const (
	renewalFrom    = 0.67
	renewalTo      = 0.80 // 67 % plus the largest jitter measured, with margin
	SyncBackoffMax = 60 * time.Second
)

// RenewalWindow is when VSO will next try to renew the app's lease: from 67 % to about
// 80 % of its duration after its last renewal or sync. ok is false when the state holds
// no lease duration or renewal time.
func RenewalWindow(s AppState) (from, to time.Time, ok bool) {
	if s.LastRenewal.IsZero() || s.LeaseDuration <= 0 {
		return time.Time{}, time.Time{}, false
	}
	d := float64(s.LeaseDuration)
	return s.LastRenewal.Add(time.Duration(d * renewalFrom)), s.LastRenewal.Add(time.Duration(d * renewalTo)), true
}

// AnnotationRestartedAt is what VSO sets on a rollout-restart target's pod template.
const AnnotationRestartedAt = "vso.secrets.hashicorp.com/restartedAt"

// Objects of one app, as charts/demo-app names them: all in namespace <app>.
func DynamicSecretName(app string) string { return app + "-db" }
func SecretName(app string) string        { return app + "-db" }
func DeploymentName(app string) string    { return app }

// AppState is the app's side at one instant. It holds no secret.
type AppState struct {
	App string `json:"app"`
	// LeaseID is the VaultDynamicSecret's status.secretLease.id; LastRenewal its
	// status.lastRenewalTime (VSO's last successful sync or renewal, zero before any).
	LeaseID     string    `json:"leaseID"`
	LastRenewal time.Time `json:"lastRenewal,omitzero"`
	// LeaseDuration is status.secretLease.duration, the lease's TTL when VSO last got
	// or renewed it.
	LeaseDuration time.Duration `json:"leaseDuration,omitzero"`
	// VaultClientID is status.vaultClientMeta.id: VSO's identifier of the Vault login
	// it used last (never a token). It changes when VSO logs in again.
	VaultClientID string `json:"vaultClientID,omitempty"`
	// SecretUser is data.username of Secret <app>-db; SecretVersion its resourceVersion.
	SecretUser    string `json:"secretUser"`
	SecretVersion string `json:"secretVersion"`
	// RestartedAt is VSO's annotation on the Deployment's pod template ("" before any
	// rollout-restart).
	RestartedAt string `json:"restartedAt"`
	// Ready says the Deployment's rollout is complete and every replica available;
	// Rollout says where it stands, for people.
	Ready   bool   `json:"ready"`
	Rollout string `json:"rollout"`
	// PodsReadySince is the latest moment at which the last of the app's pods became
	// Ready: the app has served since then. Zero while a pod is not Ready, or without
	// pods.
	PodsReadySince time.Time `json:"podsReadySince,omitzero"`
}

// Event is one Event on the app's VaultDynamicSecret.
type Event struct {
	Reason  string `json:"reason"`
	Type    string `json:"type"`
	Message string `json:"message"`
	// Time is when the Event was last seen; First when it was first seen. VSO's event
	// recorder merges identical Events into one object whose count grows while its
	// first time stays at the first occurrence ever, which can be long before a drill
	// (RolloutRestartTriggered always reads the same); Count says how many.
	Time  time.Time `json:"time"`
	First time.Time `json:"first"`
	Count int32     `json:"count"`
}

// Repeated reports whether the Event happened more than once: then only Time dates
// its latest occurrence.
func (e Event) Repeated() bool { return e.Count > 1 }

// FirstSince is the earliest occurrence of the Event known to be at or after t (t is
// taken to the second, as Event times are): its first sighting when that is after t,
// else its last, since the occurrences in between are not recorded.
func (e Event) FirstSince(t time.Time) time.Time {
	if !e.First.IsZero() && !e.First.Before(t.Truncate(time.Second)) {
		return e.First
	}
	return e.Time
}

// SyncReason is the sync_reason VSO wrote in a SecretSynced or SecretRotated Event
// ("" if none).
func (e Event) SyncReason() string {
	_, after, ok := strings.Cut(e.Message, `sync_reason="`)
	if !ok {
		return ""
	}
	reason, _, _ := strings.Cut(after, `"`)
	return reason
}

// SyncedOrRenewed reports whether the Event proves that VSO got or renewed the
// credentials: a Normal SecretSynced or SecretRotated, or a SecretLeaseRenewal that
// says it renewed. VSO also records a Normal SecretLeaseRenewal when it only found
// the lease outside its renewal window ("Not in renewal window…", after its own
// restart) or when it gave up renewing a truncated lease: neither counts.
func (e Event) SyncedOrRenewed() bool {
	if e.Type != corev1.EventTypeNormal {
		return false
	}
	switch e.Reason {
	case ReasonSecretSynced, ReasonSecretRotated:
		return true
	case ReasonSecretLeaseRenewal:
		return strings.HasPrefix(e.Message, "Renewed lease")
	}
	return false
}

// Observer reads the app's side through the guard-verified connection.
type Observer struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
}

// New builds an observer from a connection whose marker the guard verified; a
// pending connection is refused.
func New(k *guard.Kube) (*Observer, error) {
	if err := k.RequireVerified(); err != nil {
		return nil, err
	}
	cs, err := k.Clientset()
	if err != nil {
		return nil, err
	}
	cfg, err := k.RESTConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Observer{cs: cs, dyn: dyn}, nil
}

// State reads the app's side now.
func (o *Observer) State(ctx context.Context, app string) (AppState, error) {
	s := AppState{App: app}
	vds, err := o.dyn.Resource(VaultDynamicSecrets).Namespace(app).Get(ctx, DynamicSecretName(app), metav1.GetOptions{})
	if err != nil {
		return s, fmt.Errorf("app %s: VaultDynamicSecret %s: %w", app, DynamicSecretName(app), err)
	}
	s.LeaseID, _, _ = unstructured.NestedString(vds.Object, "status", "secretLease", "id")
	if t, ok, _ := unstructured.NestedInt64(vds.Object, "status", "lastRenewalTime"); ok && t > 0 {
		s.LastRenewal = time.Unix(t, 0)
	}
	if d, ok, _ := unstructured.NestedInt64(vds.Object, "status", "secretLease", "duration"); ok && d > 0 {
		s.LeaseDuration = time.Duration(d) * time.Second
	}
	s.VaultClientID, _, _ = unstructured.NestedString(vds.Object, "status", "vaultClientMeta", "id")
	// VSO creates the Secret on its first sync: until then it is missing, which
	// Healthy reports as no credentials.
	sec, err := o.cs.CoreV1().Secrets(app).Get(ctx, SecretName(app), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return s, fmt.Errorf("app %s: Secret %s: %w", app, SecretName(app), err)
	default:
		s.SecretUser, s.SecretVersion = string(sec.Data["username"]), sec.ResourceVersion
	}
	d, err := o.cs.AppsV1().Deployments(app).Get(ctx, DeploymentName(app), metav1.GetOptions{})
	if err != nil {
		return s, fmt.Errorf("app %s: Deployment %s: %w", app, DeploymentName(app), err)
	}
	s.RestartedAt = d.Spec.Template.Annotations[AnnotationRestartedAt]
	s.Ready, s.Rollout = RolloutComplete(d)
	if s.PodsReadySince, err = o.podsReadySince(ctx, d); err != nil {
		return s, fmt.Errorf("app %s: %w", app, err)
	}
	return s, nil
}

// podsReadySince is when the last of the Deployment's pods became Ready; zero if one
// is not Ready, or there is none.
func (o *Observer) podsReadySince(ctx context.Context, d *appsv1.Deployment) (time.Time, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return time.Time{}, fmt.Errorf("Deployment %s selector: %w", d.Name, err)
	}
	pods, err := o.cs.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return time.Time{}, fmt.Errorf("pods of Deployment %s: %w", d.Name, err)
	}
	var since time.Time
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue // terminating: on its way out of the rollout
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
				if c.LastTransitionTime.After(since) {
					since = c.LastTransitionTime.Time
				}
			}
		}
		if !ready {
			return time.Time{}, nil
		}
	}
	return since, nil
}

// Events returns the Events on the app's VaultDynamicSecret last seen at or after
// since, oldest first. VSO's Events carry second-precision times, so two in the same
// second come in the API server's list order.
func (o *Observer) Events(ctx context.Context, app string, since time.Time) ([]Event, error) {
	sel := fields.Set{
		"involvedObject.kind": "VaultDynamicSecret",
		"involvedObject.name": DynamicSecretName(app),
	}.AsSelector().String()
	list, err := o.cs.CoreV1().Events(app).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("app %s: events: %w", app, err)
	}
	var out []Event
	for _, e := range list.Items {
		ev := fromAPI(e)
		if ev.Time.Before(since.Truncate(time.Second)) {
			continue
		}
		out = append(out, ev)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// fromAPI reads an Event's first and last sightings and its count, whichever way the
// recorder wrote them: core/v1 style (firstTimestamp, lastTimestamp, count; second
// precision), which VSO uses, or events.k8s.io style (eventTime for the first,
// series.lastObservedTime and series.count for the repeats).
func fromAPI(e corev1.Event) Event {
	first, last := time.Time{}, time.Time{}
	for _, t := range []time.Time{e.FirstTimestamp.Time, e.EventTime.Time, e.LastTimestamp.Time} {
		if t.IsZero() {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	count := max(e.Count, 1)
	if e.Series != nil {
		if t := e.Series.LastObservedTime.Time; t.After(last) {
			last = t
		}
		count = max(count, e.Series.Count)
	}
	return Event{Reason: e.Reason, Type: e.Type, Message: e.Message, Time: last, First: first, Count: count}
}

// First returns the first event with one of reasons.
func First(events []Event, reasons ...string) (Event, bool) {
	for _, e := range events {
		if slices.Contains(reasons, e.Reason) {
			return e, true
		}
	}
	return Event{}, false
}

// Healthy is the steady state: VSO holds a lease, the Secret has credentials, and the
// app is rolled out and ready.
func Healthy(s AppState) error {
	var errs []error
	if s.LeaseID == "" {
		errs = append(errs, errors.New("the VaultDynamicSecret holds no lease"))
	}
	if s.SecretUser == "" {
		errs = append(errs, fmt.Errorf("Secret %s has no username", SecretName(s.App)))
	}
	if !s.Ready {
		errs = append(errs, fmt.Errorf("Deployment %s is not ready (%s)", DeploymentName(s.App), s.Rollout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("app %s: %w", s.App, err)
	}
	return nil
}

// Rotated checks that the app moved from before to now onto new credentials: a new
// lease, a new username in the Secret, a rollout-restart by VSO, and a ready app.
func Rotated(before, now AppState) error {
	var errs []error
	if now.LeaseID == "" || now.LeaseID == before.LeaseID {
		errs = append(errs, errors.New("the VaultDynamicSecret's lease did not change"))
	}
	if now.SecretUser == "" || now.SecretUser == before.SecretUser {
		errs = append(errs, fmt.Errorf("Secret %s still holds the old credentials", SecretName(now.App)))
	}
	if now.RestartedAt == "" || now.RestartedAt == before.RestartedAt {
		errs = append(errs, fmt.Errorf("VSO has not restarted Deployment %s", DeploymentName(now.App)))
	}
	if !now.Ready {
		errs = append(errs, fmt.Errorf("Deployment %s is not ready (%s)", DeploymentName(now.App), now.Rollout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("app %s: %w", now.App, err)
	}
	return nil
}

// RolloutComplete is `kubectl rollout status` for a Deployment: the controller saw
// the latest spec, every replica is updated and available, and no old one is left.
func RolloutComplete(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, "waiting for the deployment controller to see the new spec"
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	}
	return true, fmt.Sprintf("%d of %d replicas updated and available", st.AvailableReplicas, want)
}
