package guard

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func vaultRecord(addr, clusterID string) Record {
	return Record{Name: "demo", UUID: fxUUID, Vault: &VaultRecord{Addr: addr, ClusterID: clusterID}}
}

// TestVaultAddressOffline is the offline part of the Vault decision.
func TestVaultAddressOffline(t *testing.T) {
	rec := vaultRecord("http://127.0.0.1:8200", "c0ffee")
	cases := []struct{ addr, want string }{
		{"http://127.0.0.1:8200", ""},
		{"http://127.0.0.1:8200/", ""},
		{"http://127.0.0.1:8201", "is not the recorded address"},
		{"https://127.0.0.1:8200", "is not the recorded address"},
		{"http://localhost:8200", "is not the recorded address"},
		{"http://[::1]:8200", "is not the recorded address"},
		{"http://192.168.1.20:8200", "not a loopback literal"},
		{"http://10.0.0.5:8200", "not a loopback literal"},
		{"http://vault.example.com:8200", "not a loopback literal"},
		{"http://vault:8200", "not a loopback literal"},
		{"http://localhost.example.com:8200", "not a loopback literal"},
		{"http://127.0.0.1.nip.io:8200", "not a loopback literal"},
		{"http://localtest.me:8200", "not a loopback literal"},
		{"http://[::ffff:127.0.0.1]:8200", "not a loopback literal"},
		{"http://[::ffff:7f00:1]:8200", "not a loopback literal"},
		{"http://2130706433:8200", "not a loopback literal"},
		{"http://0177.0.0.1:8200", "not a loopback literal"},
		{"http://127.1:8200", "not a loopback literal"},
		{"http://127.000.000.001:8200", "not a loopback literal"},
		{"http://l\u043ecalhost:8200", "non-ASCII"},
		{"http://127.0.0.1", "has no port"},
		{"http://127.0.0.1:", "has no port"},
		{"http://127.0.0.1:99999", "invalid port"},
		{"http://root:s3cret@127.0.0.1:8200", "userinfo"},
		{"http://127.0.0.1:8200/v1/secret", "has a path"},
		{"http://127.0.0.1:8200?x=1", "query"},
		{"127.0.0.1:8200", "must start with"},
		{"unix:///run/vault.sock", "must start with"},
		{"tcp://127.0.0.1:8200", "must start with"},
		{" http://127.0.0.1:8200", "non-ASCII"},
		{"", "address is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			_, rep, err := approveVaultCheck(context.Background(), rec, tc.addr, CheckOptions{Offline: true})
			assertDecision(t, err == nil, rep, err, tc.want)
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("password leaked: %v", err)
			}
		})
	}
}

func TestVaultRecordOffline(t *testing.T) {
	cases := []struct {
		name string
		rec  Record
		init bool
		want string
	}{
		{"no vault", Record{Name: "demo", UUID: fxUUID}, false, "no sandbox named \"demo\" has a Vault; run `labsbx up --name demo`"},
		{"not initialised", vaultRecord("http://127.0.0.1:8200", ""), false, "run `labsbx vault init --name demo`"},
		{"recorded LAN address", vaultRecord("http://192.168.1.20:8200", "c0ffee"), false, "not a loopback literal"},
		{"init but already initialised", vaultRecord("http://127.0.0.1:8200", "c0ffee"), true, "already initialised by labsbx"},
		{"init without a recorded address", Record{Name: "demo", UUID: fxUUID}, true, "has a Vault"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.init {
				_, err = ApproveVaultInit(context.Background(), tc.rec, "http://127.0.0.1:8200", proofFor("http://127.0.0.1:8200"))
			} else {
				_, err = ApproveVault(context.Background(), tc.rec, proofFor("http://127.0.0.1:8200"))
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want refusal containing %q", err, tc.want)
			}
		})
	}
}

// fakeVault is a stand-in for the Vault HTTP API at the network boundary; the
// integration tests use a real Vault.
type fakeVault struct {
	mu          sync.Mutex
	initialized bool
	sealed      bool
	clusterID   string
	redirectTo  string
	requests    []*http.Request
	srv         *httptest.Server
}

func newFakeVault(t *testing.T, initialized, sealed bool, clusterID string) *fakeVault {
	f := &fakeVault{initialized: initialized, sealed: sealed, clusterID: clusterID}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	w.Header().Set("Content-Type", "application/json")
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	switch r.URL.Path {
	case "/v1/sys/health":
		h := map[string]any{"initialized": f.initialized, "sealed": f.sealed}
		if f.initialized && !f.sealed {
			h["cluster_id"] = f.clusterID
		}
		reply(h)
	case "/v1/sys/init":
		if r.Method == http.MethodGet {
			reply(map[string]any{"initialized": f.initialized})
			return
		}
		f.initialized = true
		reply(map[string]any{"keys": []string{"k"}, "keys_base64": []string{"aw=="}, "root_token": "root"})
	case "/v1/sys/seal-status":
		reply(map[string]any{"type": "shamir", "initialized": f.initialized, "sealed": f.sealed, "t": 1, "n": 1})
	case "/v1/sys/unseal":
		f.sealed = false
		reply(map[string]any{"type": "shamir", "initialized": true, "sealed": false, "t": 1, "n": 1})
	default:
		if f.redirectTo != "" {
			http.Redirect(w, r, f.redirectTo+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		reply(map[string]any{"data": map[string]any{"ok": true}})
	}
}

func (f *fakeVault) seen(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.URL.Path == path {
			n++
		}
	}
	return n
}

func TestApproveVaultInitFake(t *testing.T) {
	ctx := context.Background()
	f := newFakeVault(t, false, true, "")
	rec := vaultRecord(f.srv.URL, "")
	a, err := ApproveVaultInit(ctx, rec, f.srv.URL, proofFor(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Read("secret/data/x"); !errors.Is(err, ErrRefused) {
		t.Errorf("read before verification = %v, want refusal", err)
	}
	if f.seen("/v1/secret/data/x") != 0 {
		t.Error("a refused request reached the server")
	}
	if _, err := c.Sys().Init(&initRequest); err != nil {
		t.Fatalf("init through an init approval: %v", err)
	}
	if err := a.VerifyClusterID(ctx); !errors.Is(err, ErrRefused) {
		t.Errorf("VerifyClusterID on an init approval = %v, want refusal", err)
	}
	// Now initialised: a second init approval is refused.
	if _, err := ApproveVaultInit(ctx, rec, f.srv.URL, proofFor(f.srv.URL)); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("ApproveVaultInit on an initialised Vault = %v", err)
	}
}

func TestApproveVaultFake(t *testing.T) {
	ctx := context.Background()
	t.Run("unsealed, cluster_id matches", func(t *testing.T) {
		f := newFakeVault(t, true, false, "c0ffee")
		a, err := ApproveVault(ctx, vaultRecord(f.srv.URL, "c0ffee"), proofFor(f.srv.URL))
		if err != nil || !a.Verified() {
			t.Fatalf("ApproveVault = %v verified=%v", err, a.Verified())
		}
		c, _ := a.Client()
		if _, err := c.Logical().Read("secret/data/x"); err != nil {
			t.Errorf("read after verification: %v", err)
		}
	})
	t.Run("unsealed, other cluster_id", func(t *testing.T) {
		f := newFakeVault(t, true, false, "beef")
		_, err := ApproveVault(ctx, vaultRecord(f.srv.URL, "c0ffee"), proofFor(f.srv.URL))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `cluster_id "beef"`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("uninitialised but recorded", func(t *testing.T) {
		f := newFakeVault(t, false, true, "")
		_, err := ApproveVault(ctx, vaultRecord(f.srv.URL, "c0ffee"), proofFor(f.srv.URL))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not initialised") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("sealed, then unsealed and verified", func(t *testing.T) {
		f := newFakeVault(t, true, true, "c0ffee")
		a, err := ApproveVault(ctx, vaultRecord(f.srv.URL, "c0ffee"), proofFor(f.srv.URL))
		if err != nil || a.Verified() {
			t.Fatalf("ApproveVault(sealed) = %v verified=%v", err, a.Verified())
		}
		c, _ := a.Client()
		if _, err := c.Logical().Read("secret/data/x"); !errors.Is(err, ErrRefused) {
			t.Errorf("read while pending = %v, want refusal", err)
		}
		if _, err := c.Sys().SealStatus(); err != nil {
			t.Errorf("seal-status while pending: %v", err)
		}
		if _, err := c.Sys().Unseal("k"); err != nil {
			t.Fatalf("unseal while pending: %v", err)
		}
		if err := a.VerifyClusterID(ctx); err != nil {
			t.Fatalf("VerifyClusterID: %v", err)
		}
		if _, err := c.Logical().Read("secret/data/x"); err != nil {
			t.Errorf("read after VerifyClusterID: %v", err)
		}
		if f.seen("/v1/secret/data/x") != 1 {
			t.Errorf("the server saw %d reads, want 1 (the one after verification)", f.seen("/v1/secret/data/x"))
		}
	})
	t.Run("sealed, unsealed as another Vault", func(t *testing.T) {
		f := newFakeVault(t, true, true, "beef")
		a, err := ApproveVault(ctx, vaultRecord(f.srv.URL, "c0ffee"), proofFor(f.srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := a.Client()
		_, _ = c.Sys().Unseal("k")
		if err := a.VerifyClusterID(ctx); !errors.Is(err, ErrRefused) {
			t.Errorf("VerifyClusterID = %v, want refusal", err)
		}
		if _, err := c.Logical().Read("secret/data/x"); !errors.Is(err, ErrRefused) {
			t.Errorf("read after a failed verification = %v, want refusal", err)
		}
	})
}

// The Vault client ignores VAULT_* and follows no redirect to another host.
func TestVaultClientIgnoresEnvironment(t *testing.T) {
	ctx := context.Background()
	other := countingListener(t)
	t.Setenv("VAULT_ADDR", "http://"+other.Addr().String())
	t.Setenv("VAULT_TOKEN", "env-token-must-not-be-sent")
	t.Setenv("VAULT_NAMESPACE", "prod")
	t.Setenv("VAULT_HEADERS", `{"X-Leak":"1"}`)
	t.Setenv("VAULT_WRAP_TTL", "5m")
	t.Setenv("HTTP_PROXY", "http://"+other.Addr().String())
	t.Setenv("http_proxy", "http://"+other.Addr().String())

	f := newFakeVault(t, true, false, "c0ffee")
	a, err := ApproveVault(ctx, vaultRecord(f.srv.URL, "c0ffee"), proofFor(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	if c.Token() != "" || c.Address() != f.srv.URL {
		t.Errorf("client token %q address %q", c.Token(), c.Address())
	}
	if _, err := c.Logical().Read("secret/data/x"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	last := f.requests[len(f.requests)-1]
	f.mu.Unlock()
	for _, h := range []string{"X-Vault-Token", "X-Vault-Namespace", "X-Leak", "X-Vault-Wrap-TTL"} {
		if v := last.Header.Get(h); v != "" {
			t.Errorf("request carried %s: %q", h, v)
		}
	}
	// A redirect to another listener is not followed.
	f.mu.Lock()
	f.redirectTo = "http://" + other.Addr().String()
	f.mu.Unlock()
	_, _ = c.Logical().Read("secret/data/y")
	// And a caller pointing the client elsewhere gets nowhere.
	if err := c.SetAddress("http://" + other.Addr().String()); err == nil {
		if _, err := c.Logical().Read("secret/data/z"); !errors.Is(err, ErrRefused) {
			t.Errorf("read after SetAddress elsewhere = %v, want refusal", err)
		}
	}
	if n := other.accepted(); n != 0 {
		t.Errorf("the other listener accepted %d connections", n)
	}
}

var initRequest = initReq()

// countingListenerT accepts and counts connections on 127.0.0.1.
type countingListenerT struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (c *countingListenerT) accepted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func countingListener(t testing.TB) *countingListenerT {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListenerT{Listener: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.n++
			c.mu.Unlock()
			conn.Close()
		}
	}()
	return c
}
