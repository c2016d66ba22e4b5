package guard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The marker ConfigMap that proves a cluster is a given sandbox.
const (
	MarkerNamespace = "kube-system"
	MarkerName      = "labsbx-sandbox"
	MarkerUUIDKey   = "uuid"
)

// markerPath and markerCreatePath are the only API paths a client may use
// before the marker is verified (plus discovery).
const (
	markerPath       = "/api/v1/namespaces/" + MarkerNamespace + "/configmaps/" + MarkerName
	markerCreatePath = "/api/v1/namespaces/" + MarkerNamespace + "/configmaps"
)

// MarkerConfigMap is the marker labsbx writes into a cluster it created.
func MarkerConfigMap(uuid string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      MarkerName,
			Namespace: MarkerNamespace,
			Labels: map[string]string{
				LabelSandbox:                   uuid,
				"app.kubernetes.io/managed-by": "labsbx",
			},
		},
		Data: map[string]string{MarkerUUIDKey: uuid},
	}
}

// KubeApproval is the guard's approval of one kube context. It can only be
// obtained from ApproveKube; its zero value refuses everything.
//
// Clients built from it dial only the approved server, trust only the
// recorded CA, ignore proxies and the environment, and refuse every request
// except discovery and reading the marker until the marker UUID has been
// verified (by Connect, or by Kube.WriteMarker during up).
type KubeApproval struct {
	st *kubeState
}

// kubeState is shared by every copy of an approval and every client built
// from it, so that verifying the marker once unlocks all of them.
type kubeState struct {
	rec      Record // snapshot, with a private copy of Kube
	server   endpoint
	caPEM    []byte
	creds    kubeCreds
	verified atomic.Bool
}

// ApproveKube decides, offline, whether context in the given kubeconfig files
// is the cluster rec recorded. It never reads $KUBECONFIG or ~/.kube/config
// and never touches the network. The report lists every check that ran.
func ApproveKube(rec Record, kubeconfigPaths []string, context string) (KubeApproval, Report, error) {
	return approveKube(rec, kubeconfigPaths, context, loadKubeFile)
}

func approveKube(rec Record, paths []string, context string, loader func(string) (*kubeFile, error)) (KubeApproval, Report, error) {
	r := &kubeRun{rec: rec, paths: paths, context: context, loader: loader}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	if err := runSteps(&rep, "kube context "+fmt.Sprintf("%+q", context), kubeChecks, r); err != nil {
		return KubeApproval{}, rep, err
	}
	kr := *rec.Kube
	snap := rec
	snap.Kube = &kr
	snap.Vault = nil
	st := &kubeState{rec: snap, server: r.server, caPEM: slices.Clone(r.caPEM), creds: r.creds}
	return KubeApproval{st: st}, rep, nil
}

// Context returns the approved context name ("" for a zero approval).
func (a KubeApproval) Context() string {
	if a.st == nil {
		return ""
	}
	return a.st.rec.Kube.Context
}

// Server returns the approved server URL ("" for a zero approval).
func (a KubeApproval) Server() string {
	if a.st == nil {
		return ""
	}
	return a.st.server.String()
}

// RESTConfig builds a client config from the approved entries only. Until the
// marker is verified (Connect), clients built from it can only run discovery
// and read the marker; everything else is refused before it leaves the
// process. Callers must not loosen the returned config (proxy, TLS, dial).
func (a KubeApproval) RESTConfig() (*rest.Config, error) {
	if a.st == nil {
		return nil, zeroRefusal("KubeApproval")
	}
	return a.st.restConfig(false), nil
}

func (s *kubeState) restConfig(markerWriter bool) *rest.Config {
	d := newPinnedDialer(s.server)
	cfg := &rest.Config{
		Host:      s.server.String(),
		UserAgent: "labsbx",
		Timeout:   60 * time.Second,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   slices.Clone(s.caPEM),
			CertData: slices.Clone(s.creds.certPEM),
			KeyData:  slices.Clone(s.creds.keyPEM),
		},
		BearerToken: s.creds.token,
		// Never a proxy, whatever HTTPS_PROXY says: 0.0.0.0 is not exempt.
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
		Dial:  d.DialContext,
	}
	if s.creds.exec != nil {
		ex := *s.creds.exec
		ex.Args = slices.Clone(ex.Args)
		ex.Env = slices.Clone(ex.Env)
		cfg.ExecProvider = &ex
	}
	if s.creds.authProvider != nil {
		ap := clientcmdapi.AuthProviderConfig{Name: s.creds.authProvider.Name, Config: map[string]string{}}
		for k, v := range s.creds.authProvider.Config {
			ap.Config[k] = v
		}
		cfg.AuthProvider = &ap
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return &kubeGate{st: s, next: rt, markerWriter: markerWriter}
	}
	return cfg
}

// kubeGate refuses, inside the process, every request a client may not make
// yet: before the marker is verified only discovery and the marker itself.
type kubeGate struct {
	st           *kubeState
	next         http.RoundTripper
	markerWriter bool
}

func (g *kubeGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != g.st.server.hostPort() {
		return nil, refusef("request to %q refused: this client is pinned to %q", req.URL.Host, g.st.server.hostPort())
	}
	if !g.st.verified.Load() && !g.preMarkerAllowed(req) {
		return nil, refusef("%s %s refused: the sandbox marker is not verified on %s yet (Connect first; during up, WriteMarker)", req.Method, req.URL.Path, g.st.server)
	}
	return g.next.RoundTrip(req)
}

func (g *kubeGate) preMarkerAllowed(req *http.Request) bool {
	if req.Header.Get("Upgrade") != "" {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch req.URL.Path {
		case "/version", "/api", "/apis", markerPath:
			return true
		}
	case http.MethodPost:
		return g.markerWriter && req.URL.Path == markerCreatePath
	}
	return false
}

// sameIdentity refuses a record that is not the one this approval was made for.
func (s *kubeState) sameIdentity(rec Record) error {
	a := s.rec
	if rec.Kube == nil || rec.Name != a.Name || rec.UUID != a.UUID ||
		rec.Kube.Context != a.Kube.Context || rec.Kube.Cluster != a.Kube.Cluster || rec.Kube.User != a.Kube.User ||
		rec.Kube.Server != a.Kube.Server || normFingerprint(rec.Kube.CAFingerprint) != normFingerprint(a.Kube.CAFingerprint) ||
		rec.Kube.AuthPlugin != a.Kube.AuthPlugin {
		return refusef("the record passed to Connect is not the one %s was approved for", a.Kube.Context)
	}
	return nil
}

// Kube is a connection to an approved cluster. Clientset and RESTConfig are
// available once the marker is verified; while up has not written the marker
// yet, the only allowed next step is WriteMarker.
type Kube struct {
	st   *kubeState
	cs   *kubernetes.Clientset
	uuid string
}

// Connect builds a client for the approved cluster and, before returning,
// reads ConfigMap kube-system/labsbx-sandbox and requires data.uuid ==
// rec.UUID. While rec.Kube.MarkerWritten is false (during up, between cluster
// creation and the marker) a missing marker is accepted and the returned Kube
// is pending: only WriteMarker works on it. A marker with another UUID is
// always refused.
func (a KubeApproval) Connect(ctx context.Context, rec Record) (*Kube, error) {
	if a.st == nil {
		return nil, zeroRefusal("KubeApproval")
	}
	if err := a.st.sameIdentity(rec); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(a.st.restConfig(false))
	if err != nil {
		return nil, fmt.Errorf("building client for %s: %w", a.st.server, err)
	}
	k := &Kube{st: a.st, cs: cs, uuid: rec.UUID}
	cm, err := cs.CoreV1().ConfigMaps(MarkerNamespace).Get(ctx, MarkerName, metav1.GetOptions{})
	switch {
	case err == nil:
		if err := a.st.checkMarker(cm, rec.UUID); err != nil {
			return nil, err
		}
		return k, nil
	case apierrors.IsNotFound(err):
		if rec.Kube.MarkerWritten {
			return nil, refusef("cluster %s has no marker %s/%s although the sandbox wrote one: it is not (or no longer) sandbox %q", a.st.server, MarkerNamespace, MarkerName, rec.Name)
		}
		return k, nil
	default:
		return nil, a.st.classify(err)
	}
}

func (s *kubeState) checkMarker(cm *corev1.ConfigMap, uuid string) error {
	got, ok := cm.Data[MarkerUUIDKey]
	if !ok || got != uuid || uuid == "" {
		return refusef("cluster %s carries the marker of another sandbox (uuid %q, want %q)", s.server, got, uuid)
	}
	s.verified.Store(true)
	return nil
}

// classify turns a failure to reach the marker into a refusal when it proves
// the server is not ours (wrong CA, not TLS), and wraps it otherwise.
func (s *kubeState) classify(err error) error {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var r *Refusal
	switch {
	case errors.As(err, &r):
		return r
	case errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		return refusef("server %s does not present a certificate the recorded CA vouches for: %w", s.server, err)
	case errors.As(err, &rh):
		return refusef("server %s does not speak TLS: %w", s.server, err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return refusef("server %s does not let the sandbox credentials read the marker: %w", s.server, err)
	}
	return fmt.Errorf("reading marker %s/%s on %s: %w", MarkerNamespace, MarkerName, s.server, err)
}

// Verified reports whether the marker UUID has been verified on this cluster.
func (k *Kube) Verified() bool { return k != nil && k.st != nil && k.st.verified.Load() }

// RequireVerified refuses a connection whose marker is not verified yet: nothing of the
// cluster's is read before it (the app-side observer asks this first).
func (k *Kube) RequireVerified() error {
	if !k.Verified() {
		return refusef("the cluster's marker is not verified yet; no app-side reads before it")
	}
	return nil
}

// Clientset returns the client once the marker is verified.
func (k *Kube) Clientset() (*kubernetes.Clientset, error) {
	if k == nil || k.st == nil {
		return nil, zeroRefusal("Kube")
	}
	if !k.st.verified.Load() {
		return nil, refusef("marker not written on %s yet: call WriteMarker first", k.st.server)
	}
	return k.cs, nil
}

// RESTConfig returns a client config for other libraries (helm) once the
// marker is verified.
func (k *Kube) RESTConfig() (*rest.Config, error) {
	if k == nil || k.st == nil {
		return nil, zeroRefusal("Kube")
	}
	if !k.st.verified.Load() {
		return nil, refusef("marker not written on %s yet: call WriteMarker first", k.st.server)
	}
	return k.st.restConfig(false), nil
}

// WriteMarker creates the marker ConfigMap if it is absent and verifies it.
// It never updates an existing ConfigMap: a marker with another UUID is a
// refusal. It is idempotent, so a resumed up can call it again; afterwards the
// caller records MarkerWritten = true in the sandbox state.
func (k *Kube) WriteMarker(ctx context.Context) error {
	if k == nil || k.st == nil {
		return zeroRefusal("Kube")
	}
	if k.st.verified.Load() {
		return nil
	}
	cs, err := kubernetes.NewForConfig(k.st.restConfig(true))
	if err != nil {
		return fmt.Errorf("building marker client for %s: %w", k.st.server, err)
	}
	cms := cs.CoreV1().ConfigMaps(MarkerNamespace)
	_, err = cms.Create(ctx, MarkerConfigMap(k.uuid), metav1.CreateOptions{})
	switch {
	case err == nil:
		k.st.verified.Store(true)
		return nil
	case apierrors.IsAlreadyExists(err):
		cm, gerr := cms.Get(ctx, MarkerName, metav1.GetOptions{})
		if gerr != nil {
			return k.st.classify(gerr)
		}
		return k.st.checkMarker(cm, k.uuid)
	default:
		return k.st.classify(err)
	}
}

// isUnreachable reports whether err only says the server could not be reached.
func isUnreachable(err error) bool {
	return wait.NotAnsweringYet(err) || errors.Is(err, context.DeadlineExceeded)
}
