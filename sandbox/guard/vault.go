package guard

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
)

// ErrVaultInitialised marks the refusal of ApproveVaultInit for a Vault that is
// initialised already: an up interrupted inside its init step finds its own Vault so,
// and adopts it with ApproveVaultAdopt.
var ErrVaultInitialised = errors.New("vault already initialised")

// vaultMode says what a VaultApproval was issued for.
type vaultMode int

const (
	vaultInit     vaultMode = iota + 1 // a fresh, uninitialised Vault: init and unseal only
	vaultRecorded                      // the Vault whose cluster_id the sandbox recorded
	vaultAdopt                         // an initialised Vault whose cluster_id an interrupted up did not record yet
)

// VaultApproval is the guard's approval of the sandbox Vault. It can only be
// obtained from ApproveVaultInit or ApproveVault; its zero value refuses.
//
// Clients built from it dial only the approved address, follow no redirect,
// use no proxy and read nothing from VAULT_* variables. Until the cluster_id
// is verified (at approval when Vault is unsealed, else by VerifyClusterID)
// they can only reach sys/health, sys/seal-status, sys/leader, sys/init and
// sys/unseal; every other request is refused before it leaves the process.
type VaultApproval struct {
	st *vaultState
}

type vaultState struct {
	mode      vaultMode
	name      string
	ep        endpoint
	clusterID string        // recorded; "" in init mode
	proof     ReceiverProof // proves every connection reaches the sandbox's container; nil: identity probes only
	verified  atomic.Bool
}

// vaultRun carries one Vault decision through the steps listed in checks.go.
type vaultRun struct {
	ctx   context.Context
	rec   Record
	addr  string
	mode  vaultMode
	proof ReceiverProof
	check bool // guard check: judge without sending anything, so no proof is needed

	ep       endpoint
	st       *vaultState // set by identity
	sealed   bool
	probeErr error // set when the Vault could not be reached
}

// ApproveVaultInit approves addr for `vault init`: it must be the Vault
// address the sandbox recorded, on a loopback literal (checked offline,
// first), and only then is it asked sys/init, which must say initialized:
// false. The approval's client can init and unseal; to do anything else,
// record the cluster_id (see ClusterID) and call ApproveVault. Every connection
// it opens is proven by proof to reach the sandbox's own container.
func ApproveVaultInit(ctx context.Context, rec Record, addr string, proof ReceiverProof) (VaultApproval, error) {
	a, _, err := approveVault(&vaultRun{ctx: ctx, rec: rec, addr: addr, mode: vaultInit, proof: proof})
	return a, err
}

// ApproveVault approves the Vault at rec.Vault.Addr (never VAULT_ADDR). The
// address is checked offline first; then, if Vault is unsealed, its cluster_id
// must equal rec.Vault.ClusterID. A sealed Vault does not report its
// cluster_id: it is approved pending, so that it can be unsealed, and its
// client is limited to the seal/unseal endpoints until the caller calls
// VerifyClusterID, which callers MUST do right after unsealing.
//
// cluster_id is public (sys/health serves it), so it identifies a Vault but
// never proves one: every connection the approval opens, the identity probe
// included, is proven by proof to reach the sandbox's own container first.
func ApproveVault(ctx context.Context, rec Record, proof ReceiverProof) (VaultApproval, error) {
	addr := ""
	if rec.Vault != nil {
		addr = rec.Vault.Addr
	}
	a, _, err := approveVault(&vaultRun{ctx: ctx, rec: rec, addr: addr, mode: vaultRecorded, proof: proof})
	return a, err
}

func approveVault(r *vaultRun) (VaultApproval, Report, error) {
	rep := Report{Approved: true, Checks: []CheckResult{}}
	target := fmt.Sprintf("vault %q", r.addr)
	if err := runSteps(&rep, target, vaultChecks, r); err != nil {
		return VaultApproval{}, rep, err
	}
	if err := runSteps(&rep, target, vaultOnlineChecks, r); err != nil {
		return VaultApproval{}, rep, err
	}
	if r.probeErr != nil {
		if r.check {
			return VaultApproval{}, rep, nil
		}
		return VaultApproval{}, rep, fmt.Errorf("vault %s: %w", r.ep, r.probeErr)
	}
	return VaultApproval{st: r.st}, rep, nil
}

func (r *vaultRun) record() (string, error) {
	rec := r.rec
	if !validName(rec.Name) || rec.UUID == "" {
		return "", refusef("sandbox record has an invalid name %+q or no UUID", rec.Name)
	}
	if rec.Vault == nil || rec.Vault.Addr == "" {
		return "", refusef("no sandbox named %+q has a Vault; run `labsbx up --name %s`", rec.Name, rec.Name)
	}
	if r.mode == vaultInit {
		if rec.Vault.ClusterID != "" {
			return "", refusef("the Vault of sandbox %q is already initialised by labsbx (cluster_id recorded); nothing to init", rec.Name)
		}
		return "address recorded, not initialised yet", nil
	}
	if rec.Vault.ClusterID == "" {
		return "", refusef("the Vault of sandbox %q was not initialised by labsbx; run `labsbx vault init --name %s`", rec.Name, rec.Name)
	}
	return "cluster_id " + rec.Vault.ClusterID, nil
}

func (r *vaultRun) address() (string, error) {
	e, err := parseEndpoint(r.addr, "http", "https")
	if err != nil {
		return "", refusef("vault address: %w", err)
	}
	r.ep = e
	return e.String(), nil
}

func (r *vaultRun) recorded() (string, error) {
	want, err := parseEndpoint(r.rec.Vault.Addr, "http", "https")
	if err != nil {
		return "", refusef("sandbox %q recorded a Vault address that is not ours: %w", r.rec.Name, err)
	}
	if r.ep != want {
		return "", refusef("vault address %q is not the recorded address %q of sandbox %q", r.addr, r.rec.Vault.Addr, r.rec.Name)
	}
	return "", nil
}

// receiver requires a proof that connections reach the sandbox's container, on the
// recorded port, before any is opened (guard check, which sends nothing, needs none).
func (r *vaultRun) receiver() (string, error) {
	switch {
	case r.proof == nil && r.check:
		return "no Docker proof asked: nothing is sent but identity probes", nil
	case r.proof == nil:
		return "", refusef("no proof that %s is served by sandbox %q's own container; labsbx sends nothing there without one", r.ep, r.rec.Name)
	case r.proof.HostPort() != r.ep.port:
		return "", refusef("the receiver proof is about port %d, not %s", r.proof.HostPort(), r.ep)
	}
	return "each connection opens only while Docker shows the sandbox's container publishing the port", nil
}

func (r *vaultRun) identity() (string, error) {
	st := &vaultState{mode: r.mode, name: r.rec.Name, ep: r.ep, clusterID: r.rec.Vault.ClusterID, proof: r.proof}
	if r.mode == vaultInit {
		var init struct {
			Initialized *bool `json:"initialized"`
		}
		if err := st.probe(r.ctx, "/v1/sys/init", &init); err != nil {
			return r.unreachable(err)
		}
		if init.Initialized == nil {
			return "", refusef("%s did not answer sys/init like a Vault", r.ep)
		}
		if *init.Initialized {
			return "", &Refusal{Reason: fmt.Sprintf("Vault at %s is already initialised; labsbx only initialises a fresh Vault it created", r.ep), Err: ErrVaultInitialised}
		}
		r.st = st
		return "uninitialised", nil
	}
	h, err := st.health(r.ctx)
	if err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			return "", ref
		}
		return r.unreachable(err)
	}
	if h.Sealed {
		r.st, r.sealed = st, true
		return "sealed: cluster_id not reported; verify it right after unseal", nil
	}
	if err := st.matchClusterID(h); err != nil {
		return "", err
	}
	r.st = st
	return "cluster_id " + h.ClusterID, nil
}

// unreachable records a failure to reach an address that passed every
// offline check. Approve* return it as an error; Check reports it.
func (r *vaultRun) unreachable(err error) (string, error) {
	var ref *Refusal
	if errors.As(err, &ref) {
		return "", ref
	}
	r.probeErr = err
	return fmt.Sprintf("unreachable (%v): identity not verified online", err), nil
}

type vaultHealth struct {
	Initialized *bool  `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	ClusterID   string `json:"cluster_id"`
}

// health reads sys/health, whatever its status code says.
func (s *vaultState) health(ctx context.Context) (vaultHealth, error) {
	var h vaultHealth
	if err := s.probe(ctx, "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200&drsecondarycode=200", &h); err != nil {
		return h, err
	}
	if h.Initialized == nil {
		return h, refusef("%s did not answer sys/health like a Vault", s.ep)
	}
	if !*h.Initialized {
		return h, refusef("Vault at %s is not initialised, but sandbox %q recorded a cluster_id: it is not the Vault labsbx initialised", s.ep, s.name)
	}
	return h, nil
}

func (s *vaultState) matchClusterID(h vaultHealth) error {
	if h.ClusterID == "" || h.ClusterID != s.clusterID {
		return refusef("Vault at %s has cluster_id %q, not the recorded %q of sandbox %q", s.ep, h.ClusterID, s.clusterID, s.name)
	}
	s.verified.Store(true)
	return nil
}

// probe GETs an unauthenticated sys path and decodes its JSON body.
func (s *vaultState) probe(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ep.String()+path, nil)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set(api.RequestHeaderName, "true")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return refusef("%s answered %s with HTTP %d and no Vault JSON", s.ep, req.URL.Path, resp.StatusCode)
	}
	return nil
}

// httpClient is the only HTTP client that talks to the sandbox Vault: pinned
// dial, no proxy, no redirect, and the pre-verification gate.
func (s *vaultState) httpClient() *http.Client {
	d := newPinnedDialer(s.ep)
	dial := d.DialContext
	if s.proof != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return proveDial(ctx, s.proof, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, network, addr) })
		}
	}
	tr := &http.Transport{
		Proxy:               nil, // never HTTP(S)_PROXY
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: &vaultGate{st: s, next: tr},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return refusef("vault redirect to %q refused", req.URL.Host)
		},
	}
}

// vaultGate refuses requests a client may not make yet.
type vaultGate struct {
	st   *vaultState
	next http.RoundTripper
}

func (g *vaultGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != g.st.ep.hostPort() {
		return nil, refusef("request to %q refused: this client is pinned to %q", req.URL.Host, g.st.ep.hostPort())
	}
	if !g.st.verified.Load() && !g.st.preVerifyAllowed(req) {
		return nil, refusef("%s %s refused: the cluster_id of %s is not verified (after unseal, call VerifyClusterID; after init, record it and ApproveVault)", req.Method, req.URL.Path, g.st.ep)
	}
	return g.next.RoundTrip(req)
}

func (s *vaultState) preVerifyAllowed(req *http.Request) bool {
	switch req.URL.Path {
	case "/v1/sys/health", "/v1/sys/seal-status", "/v1/sys/leader":
		return req.Method == http.MethodGet || req.Method == http.MethodHead
	case "/v1/sys/unseal":
		return req.Method == http.MethodPut || req.Method == http.MethodPost
	case "/v1/sys/init":
		return req.Method == http.MethodGet || s.mode == vaultInit && (req.Method == http.MethodPut || req.Method == http.MethodPost)
	case "/v1/auth/token/lookup-self":
		return s.mode == vaultAdopt && req.Method == http.MethodGet
	}
	return false
}

// Addr returns the approved address ("" for a zero approval).
func (a VaultApproval) Addr() string {
	if a.st == nil {
		return ""
	}
	return a.st.ep.String()
}

// Verified reports whether the Vault's cluster_id has been verified.
func (a VaultApproval) Verified() bool { return a.st != nil && a.st.verified.Load() }

// Client builds a Vault API client for the approved address, from an explicit
// api.Config and HTTP client (never api.DefaultConfig). Whatever api.NewClient
// picked up from VAULT_TOKEN, VAULT_NAMESPACE, VAULT_HEADERS or VAULT_WRAP_TTL
// is cleared: the client carries no token until the caller sets one.
// Do not Clone the result: api.Client.Clone reads VAULT_TOKEN again.
func (a VaultApproval) Client() (*api.Client, error) {
	if a.st == nil {
		return nil, zeroRefusal("VaultApproval")
	}
	if a.st.proof == nil {
		return nil, refusef("a Vault client that carries secrets needs a proof of its receiver")
	}
	cfg := &api.Config{
		Address:          a.st.ep.String(),
		HttpClient:       a.st.httpClient(),
		Timeout:          60 * time.Second,
		MinRetryWait:     time.Second,
		MaxRetryWait:     1500 * time.Millisecond,
		MaxRetries:       2,
		DisableRedirects: true,
		CheckRetry:       noRetryOnRefusal,
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("building Vault client for %s: %w", a.st.ep, err)
	}
	c.ClearToken()
	c.ClearNamespace()
	c.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	c.SetWrappingLookupFunc(noEnvWrapping)
	return c, nil
}

// noRetryOnRefusal is api.DefaultRetryPolicy, except that a refusal is final.
func noRetryOnRefusal(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if errors.Is(err, ErrRefused) {
		return false, err
	}
	return api.DefaultRetryPolicy(ctx, resp, err)
}

// noEnvWrapping is api.DefaultWrappingLookupFunc without VAULT_WRAP_TTL.
func noEnvWrapping(operation, path string) string {
	if (operation == http.MethodPut || operation == http.MethodPost) && path == "sys/wrapping/wrap" {
		return api.DefaultWrappingTTL
	}
	return ""
}

// VerifyClusterID reads the cluster_id of the approved Vault and requires it
// to equal the recorded one. Callers MUST call it right after unsealing a
// Vault that ApproveVault approved while sealed; until it succeeds the client
// can only seal-status, unseal and health. It refuses an init approval: record
// the cluster_id (ClusterID) and call ApproveVault instead.
func (a VaultApproval) VerifyClusterID(ctx context.Context) error {
	if a.st == nil {
		return zeroRefusal("VaultApproval")
	}
	if a.st.mode != vaultRecorded {
		return refusef("an init approval has no recorded cluster_id to verify; record it and call ApproveVault")
	}
	h, err := a.st.health(ctx)
	if err != nil {
		return fmt.Errorf("verifying cluster_id of %s: %w", a.st.ep, err)
	}
	if h.Sealed {
		return fmt.Errorf("verifying cluster_id of %s: Vault is still sealed", a.st.ep)
	}
	return a.st.matchClusterID(h)
}

// ClusterID reads the cluster_id of the approved, unsealed Vault, so that
// `vault init` can record it after the first unseal.
func (a VaultApproval) ClusterID(ctx context.Context) (string, error) {
	if a.st == nil {
		return "", zeroRefusal("VaultApproval")
	}
	var h vaultHealth
	if err := a.st.probe(ctx, "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200&drsecondarycode=200", &h); err != nil {
		return "", fmt.Errorf("reading cluster_id of %s: %w", a.st.ep, err)
	}
	if h.Sealed || h.ClusterID == "" {
		return "", fmt.Errorf("reading cluster_id of %s: Vault is sealed or uninitialised", a.st.ep)
	}
	return h.ClusterID, nil
}

// ApproveVaultAdopt is for an up that an interruption stopped between Vault's init and
// the record of its cluster_id: the address and receiver pass the init checks, and the
// Vault there is initialised. It is the sandbox's when the key labsbx saved at init
// unseals it, or, if it is unsealed already, when the saved root token is a root token
// there. cluster_id alone proves nothing: it is public. ApproveVaultAdopt returns the
// cluster_id to record; then call ApproveVault.
func ApproveVaultAdopt(ctx context.Context, rec Record, addr string, proof ReceiverProof, unsealKeys []string, rootToken string) (string, error) {
	r := &vaultRun{ctx: ctx, rec: rec, addr: addr, mode: vaultInit, proof: proof}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	if err := runSteps(&rep, fmt.Sprintf("vault %q", addr), vaultChecks, r); err != nil {
		return "", err
	}
	st := &vaultState{mode: vaultAdopt, name: rec.Name, ep: r.ep, proof: proof}
	h, err := st.healthAny(ctx)
	if err != nil {
		return "", err
	}
	if h.Initialized == nil || !*h.Initialized {
		return "", refusef("Vault at %s is not initialised: nothing to adopt", r.ep)
	}
	hc := st.httpClient()
	if h.Sealed {
		for _, k := range unsealKeys {
			var out struct {
				Sealed *bool `json:"sealed"`
			}
			code, err := st.call(ctx, hc, http.MethodPut, "/v1/sys/unseal", "", map[string]string{"key": k}, &out)
			if err != nil {
				return "", err
			}
			if code != http.StatusOK || out.Sealed == nil {
				return "", refusef("the unseal key sandbox %q saved does not unseal the Vault at %s (HTTP %d): it is not the Vault labsbx initialised", rec.Name, r.ep, code)
			}
			if !*out.Sealed {
				break
			}
		}
	} else {
		var out struct {
			Data struct {
				Policies []string `json:"policies"`
			} `json:"data"`
		}
		code, err := st.call(ctx, hc, http.MethodGet, "/v1/auth/token/lookup-self", rootToken, nil, &out)
		if err != nil {
			return "", err
		}
		if code != http.StatusOK || !slices.Contains(out.Data.Policies, "root") {
			return "", refusef("the root token sandbox %q saved is not a root token of the Vault at %s (HTTP %d): it is not the Vault labsbx initialised", rec.Name, r.ep, code)
		}
	}
	h, err = st.healthAny(ctx)
	if err != nil {
		return "", err
	}
	if h.Sealed || h.ClusterID == "" {
		return "", fmt.Errorf("Vault at %s is still sealed after the saved key was given", r.ep)
	}
	return h.ClusterID, nil
}

// healthAny reads sys/health whatever the Vault's state.
func (s *vaultState) healthAny(ctx context.Context) (vaultHealth, error) {
	var h vaultHealth
	err := s.probe(ctx, "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200&drsecondarycode=200", &h)
	return h, err
}

// call sends one request over the gated client and decodes a JSON answer. The body and
// token never appear in its errors.
func (s *vaultState) call(ctx context.Context, hc *http.Client, method, path, token string, body, v any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.ep.String()+path, rd)
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set(api.RequestHeaderName, "true")
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading %s: %w", path, err)
	}
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, v)
	}
	return resp.StatusCode, nil
}

// PreflightVault is the offline Vault decision on what a sandbox recorded, run before
// an operation changes anything: a tampered or foreign address is refused without a
// connection. Before init, the address must be exactly the one up writes
// (http://127.0.0.1:<port>); after, it passes vaultChecks.
func PreflightVault(rec Record) error {
	if rec.Vault == nil || rec.Vault.Addr == "" {
		return nil
	}
	if rec.Vault.ClusterID == "" {
		e, err := parseEndpoint(rec.Vault.Addr, "http")
		if err != nil || rec.Vault.Addr != fmt.Sprintf("http://127.0.0.1:%d", e.port) {
			return refusef("vault address %q in the state of sandbox %q is not one labsbx records", rec.Vault.Addr, rec.Name)
		}
		return nil
	}
	r := &vaultRun{rec: rec, addr: rec.Vault.Addr, mode: vaultRecorded, check: true}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	return runSteps(&rep, fmt.Sprintf("vault %q", rec.Vault.Addr), vaultChecks, r)
}
