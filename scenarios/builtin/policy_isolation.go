package builtin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/internal/redact"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

// policyIsolation proves, with real requests, that each app's identities reach their
// own paths as the layout grants and no other app's. There is no fault to inject: the
// steady state is an unsealed Vault holding the apps' policies and CI roles, and
// verify makes the matrix of checks (policy_isolation.go's requests and logins).
//
// For every app A, and each of its identities:
//   - the runtime token (policy <A>; on the vault profile issued from the root token,
//     as vault.AppToken does, standing in for the kubernetes/ login);
//   - the CI token (a JWT login at auth/jwt/login, role gitea_cicd_<A>, with a token
//     signed by the sandbox's CI key, as `labsbx ci token` mints it);
//
// it reads and writes A's own paths and every other app's under kvv2/, kv/, transit/
// and postgres/creds/. Vault answering 403 means denied, any other answer allowed.
// What A's identities may do on A's paths comes from the layout's rules
// (vault.RuntimeRules, vault.OpsRules), from which the policies are also written;
// everything on another app's paths must be denied. Then CI logins at gitea_cicd_<A>
// with another repository, another audience, an expired token or another signing key
// must all be refused.
//
// What it wrote, issued or leased is removed with the root token after each try:
// the test entries of every app (a loosened policy may have let a write through),
// the credentials' leases, and the tokens.
type policyIsolation struct {
	// key is the sandbox's CI signing key, read in Steady; otherKey signs the tokens
	// of no sandbox, made there too (outside verify's short tries).
	key, otherKey *rsa.PrivateKey
}

func NewPolicyIsolation() scenarios.Scenario { return &policyIsolation{} }

func (*policyIsolation) Name() string { return "policy-isolation" }
func (*policyIsolation) Description() string {
	return "no fault: each app's runtime and CI identities read and write their own and the other apps' paths, and CI logs in with bad tokens; Vault must allow exactly what the layout grants"
}
func (*policyIsolation) Runbook(e *scenarios.Env) string {
	return "labsbx vault bootstrap --name " + e.State.Name + "  # writes the layout's policies and roles back over a loosened one"
}

// entryKey is the entry a write request creates under each app's KV paths (the name
// stays as it was: reports and the entries an interrupted run left name it).
const entryKey = "labsbx-probe"

// request is one request the matrix makes on an app's path.
type request struct {
	operation string
	// capability is what a policy must grant for the request. A write request goes to
	// an entry deleted just before, so Vault asks for create.
	capability string
	path       func(app string) string
	write      bool
	data       map[string]any
}

func kvv2Entry(app string) string { return vault.MountKVv2 + "/data/" + app + "/" + entryKey }
func kvConfig(app string) string  { return vault.MountKVv1 + "/" + app + "/config" }
func kvEntry(app string) string   { return vault.MountKVv1 + "/" + app + "/" + entryKey }
func transitKey(app string) string {
	return vault.MountTransit + "/keys/" + app
}
func transitEncrypt(app string) string { return vault.MountTransit + "/encrypt/" + app }

const entryNote = "written by the labsbx policy-isolation drill; deleted at its end"

// requests are the requests made on each target app's paths.
var requests = []request{
	{operation: "read", capability: "read", path: vault.ConfigPath},
	{operation: "write", capability: "create", path: kvv2Entry, write: true, data: map[string]any{"data": map[string]any{"note": entryNote}}},
	{operation: "read", capability: "read", path: kvConfig},
	{operation: "write", capability: "create", path: kvEntry, write: true, data: map[string]any{"note": entryNote}},
	{operation: "read key", capability: "read", path: transitKey},
	{operation: "encrypt", capability: "update", path: transitEncrypt, write: true, data: map[string]any{"plaintext": base64.StdEncoding.EncodeToString([]byte("labsbx probe"))}},
	{operation: "read", capability: "read", path: vault.CredsPath},
	{operation: "update", capability: "update", path: vault.CredsPath, write: true, data: map[string]any{}},
}

// CI logins the matrix makes at gitea_cicd_<app>: the app's own token, then tokens
// Vault must refuse.
const (
	loginOwn         = "login"
	loginOtherRepo   = "login: another repository"
	loginAudience    = "login: wrong audience"
	loginExpired     = "login: expired token"
	loginOtherSigner = "login: another signing key"
)

var refusedLogins = []string{loginOtherRepo, loginAudience, loginExpired, loginOtherSigner}

// cell is one check to make.
type cell struct {
	identity, app, target string
	// request is the request made, or nil for a login (then login names which).
	request *request
	login   string
	path    string
	expect  bool
}

func (c cell) check() report.Check {
	op := c.login
	if c.request != nil {
		op = c.request.operation
	}
	exp := report.Deny
	if c.expect {
		exp = report.Allow
	}
	return report.Check{Identity: c.identity, App: c.app, Target: c.target, Operation: op, Path: c.path, Expected: exp}
}

// rulesOf are the layout's rules of an identity of app.
func rulesOf(identity, app string) []vault.Rule {
	if identity == report.IdentityCI {
		return vault.OpsRules(app)
	}
	return vault.RuntimeRules(app)
}

// loginPath names where a CI login of app goes.
func loginPath(app string) string {
	return "auth/" + vault.AuthJWT + "/login (role " + vault.CIRole(app) + ")"
}

// otherRepoApp is whose repository the refused login claims: another app of the
// sandbox, or, with one app, a slug that is none of them.
func otherRepoApp(apps []string, app string) string {
	for _, a := range apps {
		if a != app {
			return a
		}
	}
	other := app + "-other"
	for slices.Contains(apps, other) {
		other += "-x"
	}
	return other
}

// matrix is the plan of every check, in the order they are made: per app, its runtime
// token's requests (own paths first, then each other app's), the CI login, its CI
// token's requests, then the logins Vault must refuse.
func matrix(apps []string) []cell {
	var cells []cell
	for _, a := range apps {
		targets := []string{a}
		for _, b := range apps {
			if b != a {
				targets = append(targets, b)
			}
		}
		for _, id := range []string{report.IdentityRuntime, report.IdentityCI} {
			if id == report.IdentityCI {
				cells = append(cells, cell{identity: id, app: a, target: a, login: loginOwn, path: loginPath(a), expect: true})
			}
			rules := rulesOf(id, a)
			for _, t := range targets {
				for i := range requests {
					p := &requests[i]
					path := p.path(t)
					cells = append(cells, cell{identity: id, app: a, target: t, request: p, path: path,
						expect: t == a && vault.Allows(rules, p.capability, path)})
				}
			}
		}
		for _, l := range refusedLogins {
			target := a
			if l == loginOtherRepo {
				target = otherRepoApp(apps, a)
			}
			cells = append(cells, cell{identity: report.IdentityCI, app: a, target: target, login: l, path: loginPath(a)})
		}
	}
	return cells
}

// Steady: Vault is unsealed and holds every app's policies and CI role, and the
// sandbox's CI signing key is there to log in with.
func (p *policyIsolation) Steady(ctx context.Context, e *scenarios.Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	if st.Sealed {
		return errors.New("Vault is sealed")
	}
	root := e.Vault.Root()
	for _, app := range e.State.Spec.Apps {
		for _, name := range []string{vault.RuntimePolicy(app), vault.OpsPolicy(app)} {
			hcl, err := root.Sys().GetPolicyWithContext(ctx, name)
			if err != nil {
				return fmt.Errorf("read policy %s: %w", name, err)
			}
			if hcl == "" {
				return fmt.Errorf("policy %s is missing; run `labsbx vault bootstrap`", name)
			}
		}
		role := "auth/" + vault.AuthJWT + "/role/" + vault.CIRole(app)
		s, err := root.Logical().ReadWithContext(ctx, role)
		if err != nil {
			return fmt.Errorf("read %s: %w", role, err)
		}
		if s == nil {
			return fmt.Errorf("%s is missing; run `labsbx vault bootstrap`", role)
		}
	}
	kp, err := e.State.CISigningKeyPath()
	if err != nil {
		return err
	}
	b, err := kp.ReadFile()
	if err != nil {
		return fmt.Errorf("the sandbox's CI signing key: %w", err)
	}
	if p.key, err = vault.ParseSigningKey(b); err != nil {
		return err
	}
	p.otherKey, err = rsa.GenerateKey(rand.Reader, 2048)
	return err
}

// Inject: nothing is broken; the drill only makes requests.
func (*policyIsolation) Inject(context.Context, *scenarios.Env) error { return nil }

// Observe: there is no symptom to wait for.
func (*policyIsolation) Observe(context.Context, *scenarios.Env) error { return nil }

// Recover: nothing to put back.
func (*policyIsolation) Recover(context.Context, *scenarios.Env) error { return nil }

// Verify makes the matrix and reports every cell. A cell where Vault did otherwise
// than the layout says fails the drill at once; a cell without an answer (Vault
// unreachable) is tried again with the whole matrix.
func (p *policyIsolation) Verify(ctx context.Context, e *scenarios.Env) error {
	if p.key == nil || p.otherKey == nil {
		return scenarios.Permanent(errors.New("no CI signing key: the steady state was not checked"))
	}
	m := &matrixRun{root: e.Vault.Root(), newClient: e.Vault.NewClient, mark: e.Mark,
		key: p.key, otherKey: p.otherKey, apps: e.State.Spec.Apps}
	checks, err := m.run(ctx)
	e.SetChecks(checks)
	if err != nil {
		return err
	}
	failed := report.FailedChecks(checks)
	if len(failed) == 0 {
		e.Mark(fmt.Sprintf("%d checks passed", len(checks)))
		return nil
	}
	mismatch := slices.ContainsFunc(failed, func(c report.Check) bool { return c.Got != report.Errored })
	msg := fmt.Sprintf("%d of %d checks failed: ", len(failed), len(checks))
	const shown = 5
	for i, c := range failed[:min(len(failed), shown)] {
		if i > 0 {
			msg += "; "
		}
		msg += c.String()
	}
	if len(failed) > shown {
		msg += fmt.Sprintf("; and %d more (see the checks)", len(failed)-shown)
	}
	if mismatch {
		return scenarios.Permanent(errors.New(msg))
	}
	return errors.New(msg)
}

// Undo deletes the test entries an interrupted run may have left. Its tokens expire
// on their own (an hour at most), and the credentials' leases with them.
func (*policyIsolation) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	if err := deleteEntries(ctx, e.Vault.Root(), e.State.Spec.Apps); err != nil {
		return "", err
	}
	return fmt.Sprintf("deleted the probe entries %s/<app>/%s and %s/<app>/%s of every app; the drill's tokens expire within an hour, and their leases with them",
		vault.MountKVv2, entryKey, vault.MountKVv1, entryKey), nil
}

// deleteEntries removes every app's test entries, whoever wrote them.
func deleteEntries(ctx context.Context, root *api.Client, apps []string) error {
	var errs []error
	for _, app := range apps {
		for _, path := range []string{vault.MountKVv2 + "/metadata/" + app + "/" + entryKey, kvEntry(app)} {
			if _, err := root.Logical().DeleteWithContext(ctx, path); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// matrixRun is one try of the matrix: what it issued, to take back at its end.
type matrixRun struct {
	root *api.Client
	// newClient is a client of the same Vault holding a token ("" for none).
	newClient func(token string) (*api.Client, error)
	mark      func(milestone string)
	key       *rsa.PrivateKey
	apps      []string

	otherKey *rsa.PrivateKey // signs the tokens of no sandbox

	tokens  []string // revoked at the end
	leases  []string // revoked at the end
	secrets []string // tokens and JWTs, kept out of every text
}

// run makes every check, then cleans up. The error is about the run itself (a token
// that could not be issued, the clean-up); the checks say how each cell went.
func (m *matrixRun) run(ctx context.Context) (checks []report.Check, err error) {
	defer func() {
		// Clean up even when the try's deadline passed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if cerr := m.cleanup(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after the checks: %w", cerr))
		}
	}()
	// A write request must find no entry, so that it asks for create.
	if err := deleteEntries(ctx, m.root, m.apps); err != nil {
		return nil, m.scrub(err)
	}
	m.mark("probing the policies")
	clients := map[string]*api.Client{} // identity/app → client, nil when it has no token
	for _, c := range matrix(m.apps) {
		ch := c.check()
		key := c.identity + "/" + c.app
		cl, known := clients[key]
		if !known && c.identity == report.IdentityRuntime {
			if cl, err = m.runtimeClient(ctx, c.app); err != nil {
				return checks, err
			}
			clients[key] = cl
		}
		switch {
		case c.request == nil:
			var tok string
			tok, ch.Got, ch.Detail, ch.DurationMs = m.login(ctx, c)
			if c.login == loginOwn && tok != "" {
				if clients[key], err = m.newClient(tok); err != nil {
					return checks, err
				}
			}
		case cl == nil:
			ch.Got, ch.Detail = report.Errored, "no token: the CI login failed"
		default:
			ch.Got, ch.Detail, ch.DurationMs = m.send(ctx, cl, *c.request, c.path)
		}
		ch.Pass = ch.Got == ch.Expected
		checks = append(checks, ch)
	}
	m.mark(fmt.Sprintf("%d checks made", len(checks)))
	return checks, nil
}

// runtimeClient holds a new runtime token of app.
func (m *matrixRun) runtimeClient(ctx context.Context, app string) (*api.Client, error) {
	tok, err := vault.AppToken(ctx, m.root, app)
	if err != nil {
		return nil, m.scrub(err)
	}
	m.tokens = append(m.tokens, tok)
	m.secrets = append(m.secrets, tok)
	return m.newClient(tok)
}

// mint signs the JWT of a login cell.
func (m *matrixRun) mint(c cell) (string, error) {
	key, app, o := m.key, c.app, vault.CITokenOptions{}
	switch c.login {
	case loginOtherRepo:
		app = c.target
	case loginAudience:
		o.Audience = "not-" + vault.CIAudience
	case loginExpired:
		o.Now, o.TTL = time.Now().Add(-time.Hour), time.Minute
	case loginOtherSigner:
		key = m.otherKey
	}
	return vault.MintCIToken(key, app, o)
}

// login makes a login cell; it returns the token when Vault issued one.
func (m *matrixRun) login(ctx context.Context, c cell) (token, got, detail string, durMs float64) {
	jwt, err := m.mint(c)
	if err != nil {
		return "", report.Errored, "minting the token failed", 0
	}
	m.secrets = append(m.secrets, jwt)
	anon, err := m.newClient("")
	if err != nil {
		return "", report.Errored, m.scrub(err).Error(), 0
	}
	t0 := time.Now()
	s, err := vault.CILogin(ctx, anon, c.app, jwt)
	durMs = fracMs(time.Since(t0))
	if err == nil && s != nil && s.Auth != nil && s.Auth.ClientToken != "" {
		token = s.Auth.ClientToken
		m.tokens = append(m.tokens, token)
		m.secrets = append(m.secrets, token)
		return token, report.Allow, "token issued", durMs
	}
	var re *api.ResponseError
	switch {
	case err == nil:
		return "", report.Deny, "no token issued", durMs
	case errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500:
		return "", report.Deny, fmt.Sprintf("HTTP %d", re.StatusCode), durMs
	}
	got, detail = classify(m.scrub(err))
	if got == report.Allow {
		got = report.Errored // a login that issued no token allowed nothing, but was no refusal either
	}
	return "", got, detail, durMs
}

// send makes a request with cl and classifies Vault's answer.
func (m *matrixRun) send(ctx context.Context, cl *api.Client, p request, path string) (got, detail string, durMs float64) {
	var s *api.Secret
	var err error
	t0 := time.Now()
	if p.write {
		s, err = cl.Logical().WriteWithContext(ctx, path, p.data)
	} else {
		s, err = cl.Logical().ReadWithContext(ctx, path)
	}
	durMs = fracMs(time.Since(t0))
	if s != nil && s.LeaseID != "" {
		m.leases = append(m.leases, s.LeaseID)
	}
	got, detail = classify(m.scrub(err))
	return got, detail, durMs
}

// classify reads Vault's answer: 403 is denied; no answer, or a sealed or standby
// Vault (503), says nothing; any other answer got past the policy, so it is allowed.
func classify(err error) (got, detail string) {
	if err == nil {
		return report.Allow, "answered"
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case 403:
			return report.Deny, "HTTP 403"
		case 503:
			return report.Errored, "HTTP 503"
		}
		return report.Allow, fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	return report.Errored, "no answer: " + err.Error()
}

// cleanup revokes the leases and tokens of this try and deletes the test entries.
func (m *matrixRun) cleanup(ctx context.Context) error {
	var errs []error
	for _, l := range m.leases {
		if err := m.root.Sys().RevokeWithContext(ctx, l); err != nil {
			errs = append(errs, fmt.Errorf("revoke a lease of the checks: %w", err))
		}
	}
	for _, t := range m.tokens {
		if err := m.root.Auth().Token().RevokeTreeWithContext(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("revoke a token of the checks: %w", err))
		}
	}
	errs = append(errs, deleteEntries(ctx, m.root, m.apps))
	if err := errors.Join(errs...); err != nil {
		return m.scrub(err)
	}
	m.mark(fmt.Sprintf("cleaned up: %d lease(s) and %d token(s) revoked, probe entries deleted", len(m.leases), len(m.tokens)))
	return nil
}

// scrub keeps the run's tokens and JWTs out of an error.
func (m *matrixRun) scrub(err error) error {
	if err == nil {
		return nil
	}
	return redact.Err(err, m.secrets...)
}

// fracMs is d in milliseconds, to the microsecond: a check against a local Vault takes
// about a millisecond.
func fracMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
