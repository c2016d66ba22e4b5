package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// fakeAPI stands in for a kube-apiserver at the network boundary: it serves
// the marker ConfigMap and counts everything else. The integration tests use
// a real kube-apiserver.
type fakeAPI struct {
	mu       sync.Mutex
	marker   string // uuid in the marker; "" = no marker
	requests []string
	srv      *httptest.Server
}

func newFakeAPI(t *testing.T, marker string) *fakeAPI {
	f := &fakeAPI{marker: marker}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	status := func(code int, reason string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, code)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == markerPath:
		if f.marker == "" {
			status(404, "NotFound")
			return
		}
		_ = json.NewEncoder(w).Encode(MarkerConfigMap(f.marker))
	case r.Method == http.MethodPost && r.URL.Path == markerCreatePath:
		body, _ := io.ReadAll(r.Body)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		cm, ok := obj.(*corev1.ConfigMap)
		if err != nil || !ok {
			status(400, "BadRequest")
			return
		}
		if f.marker != "" {
			status(409, "AlreadyExists")
			return
		}
		f.marker = cm.Data[MarkerUUIDKey]
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(cm)
	default:
		_, _ = io.WriteString(w, `{"kind":"NamespaceList","apiVersion":"v1","items":[]}`)
	}
}

func (f *fakeAPI) saw(req string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r == req {
			return true
		}
	}
	return false
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeAPI) setMarker(uuid string) {
	f.mu.Lock()
	f.marker = uuid
	f.mu.Unlock()
}

// sandboxFor writes a kubeconfig for a TLS server and returns the record
// that labsbx would have made when creating it.
func sandboxFor(t *testing.T, server string, caPEM []byte, markerWritten bool) (Record, []string) {
	t.Helper()
	blk, _ := pem.Decode(caPEM)
	sum := sha256.Sum256(blk.Bytes)
	rec := Record{Name: fxName, UUID: fxUUID, StateDir: t.TempDir(), Kube: &KubeRecord{
		Context: fxCtx, Cluster: fxCtx, User: fxUser, Server: server,
		CAFingerprint: hex.EncodeToString(sum[:]), MarkerWritten: markerWritten,
	}}
	k := kc{ctx: fxCtx, cluster: fxCtx, user: fxUser, clusterBody: body(server, b64(caPEM))}
	p := filepath.Join(rec.StateDir, "kubeconfig")
	if err := os.WriteFile(p, []byte(k.render()), 0o600); err != nil {
		t.Fatal(err)
	}
	return rec, []string{p}
}

func serverCAPEM(f *fakeAPI) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

func TestConnectMarker(t *testing.T) {
	ctx := t.Context()
	nsList := "GET /api/v1/namespaces"

	t.Run("marker matches", func(t *testing.T) {
		f := newFakeAPI(t, fxUUID)
		rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), true)
		a, _, err := ApproveKube(rec, files, fxCtx)
		if err != nil {
			t.Fatal(err)
		}
		k, err := a.Connect(ctx, rec)
		if err != nil || !k.Verified() {
			t.Fatalf("Connect = %v", err)
		}
		cs, err := k.Clientset()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil || !f.saw(nsList) {
			t.Errorf("list after verification: %v", err)
		}
		if err := k.WriteMarker(ctx); err != nil {
			t.Errorf("WriteMarker on a verified cluster: %v", err)
		}
	})
	t.Run("marker of another sandbox", func(t *testing.T) {
		f := newFakeAPI(t, "another-uuid")
		for _, written := range []bool{true, false} {
			rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), written)
			a, _, _ := ApproveKube(rec, files, fxCtx)
			if _, err := a.Connect(ctx, rec); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "another sandbox") {
				t.Errorf("MarkerWritten=%v: Connect = %v", written, err)
			}
		}
	})
	t.Run("marker missing but recorded", func(t *testing.T) {
		f := newFakeAPI(t, "")
		rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), true)
		a, _, _ := ApproveKube(rec, files, fxCtx)
		if _, err := a.Connect(ctx, rec); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "has no marker") {
			t.Errorf("Connect = %v", err)
		}
	})
	t.Run("during up: only WriteMarker", func(t *testing.T) {
		f := newFakeAPI(t, "")
		rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), false)
		a, _, _ := ApproveKube(rec, files, fxCtx)
		// Before Connect, a client built from the approval cannot mutate.
		cfg, _ := a.RESTConfig()
		early := kubernetes.NewForConfigOrDie(cfg)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
		if _, err := early.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); !errors.Is(err, ErrRefused) {
			t.Errorf("create before Connect = %v, want refusal", err)
		}
		if _, err := early.CoreV1().ConfigMaps(MarkerNamespace).Create(ctx, MarkerConfigMap(fxUUID), metav1.CreateOptions{}); !errors.Is(err, ErrRefused) {
			t.Errorf("marker create outside WriteMarker = %v, want refusal", err)
		}
		k, err := a.Connect(ctx, rec)
		if err != nil || k.Verified() {
			t.Fatalf("Connect = %v verified=%v", err, k.Verified())
		}
		if _, err := k.Clientset(); !errors.Is(err, ErrRefused) {
			t.Errorf("Clientset while pending = %v", err)
		}
		if _, err := k.RESTConfig(); !errors.Is(err, ErrRefused) {
			t.Errorf("RESTConfig while pending = %v", err)
		}
		if _, err := early.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !errors.Is(err, ErrRefused) {
			t.Errorf("list while pending = %v, want refusal", err)
		}
		if f.saw("POST /api/v1/namespaces") || f.saw(nsList) || f.saw("POST "+markerCreatePath) {
			t.Fatal("a refused request reached the server")
		}
		if err := k.WriteMarker(ctx); err != nil {
			t.Fatalf("WriteMarker: %v", err)
		}
		if !f.saw("POST "+markerCreatePath) || f.marker != fxUUID {
			t.Error("marker not created")
		}
		if _, err := k.Clientset(); err != nil {
			t.Errorf("Clientset after WriteMarker: %v", err)
		}
		// The early client is unlocked too: the state is shared.
		if _, err := early.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list after WriteMarker: %v", err)
		}
	})
	t.Run("during up: someone else's marker appears", func(t *testing.T) {
		f := newFakeAPI(t, "")
		rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), false)
		a, _, _ := ApproveKube(rec, files, fxCtx)
		k, err := a.Connect(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		f.setMarker("another-uuid")
		if err := k.WriteMarker(ctx); !errors.Is(err, ErrRefused) {
			t.Errorf("WriteMarker over another marker = %v, want refusal", err)
		}
		if _, err := k.Clientset(); !errors.Is(err, ErrRefused) {
			t.Errorf("Clientset after a refused WriteMarker = %v", err)
		}
	})
	t.Run("another record", func(t *testing.T) {
		f := newFakeAPI(t, fxUUID)
		rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), true)
		a, _, _ := ApproveKube(rec, files, fxCtx)
		other := rec
		other.UUID = "another-uuid"
		if _, err := a.Connect(ctx, other); !errors.Is(err, ErrRefused) {
			t.Errorf("Connect with another record = %v", err)
		}
		if f.count() != 0 {
			t.Error("the server was contacted")
		}
	})
	t.Run("server presents another CA", func(t *testing.T) {
		f := newFakeAPI(t, fxUUID)
		other, err := os.ReadFile(filepath.Join(fixtureDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		rec, files := sandboxFor(t, f.srv.URL, other, true)
		a, _, err := ApproveKube(rec, files, fxCtx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Connect(ctx, rec); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Connect = %v", err)
		}
		if f.count() != 0 {
			t.Error("a request went through")
		}
	})
	t.Run("a caller rewrites the host", func(t *testing.T) {
		f := newFakeAPI(t, fxUUID)
		rec, files := sandboxFor(t, f.srv.URL, serverCAPEM(f), true)
		a, _, _ := ApproveKube(rec, files, fxCtx)
		k, err := a.Connect(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := k.RESTConfig()
		other := countingListener(t)
		cfg.Host = "https://" + other.Addr().String()
		cs := kubernetes.NewForConfigOrDie(cfg)
		if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !errors.Is(err, ErrRefused) {
			t.Errorf("list on a rewritten host = %v, want refusal", err)
		}
		if other.accepted() != 0 {
			t.Error("the rewritten host was dialled")
		}
	})
}
