package builtin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

// upgradeEvidence is what the vault-upgrade drill writes or obtains before the change,
// for one app, and checks after it. It keeps digests of what it wrote, and the tokens
// and credentials it holds (each registered with the Env as a secret, never reported).
type upgradeEvidence struct {
	app string
	// kvVersions: version -> digest of kvv2/<app>/upgrade-evidence at that version.
	kvVersions map[int]string
	// configs: app -> digest of every version of kvv2/<app>/config.
	configs map[string]string
	// kv1 is the digest of kv/<app>/upgrade-evidence.
	kv1 string
	// plaintext (base64) and its ciphertext under transit key <app>.
	plaintext, ciphertext string
	// appToken is a runtime token of <app> (policy <app>); creds its dynamic
	// Postgres user, whose lease it holds.
	appToken string
	creds    vault.Credentials
	// ciToken is what jwt/ role gitea_cicd_<app> issued (policy <app>-ops).
	ciToken string
	// policies: name -> digest of its rules.
	policies map[string]string
}

// Evidence paths: beside the app's config, where its two identities may write.
func evidenceKey(app string) string    { return app + "/" + evidenceEntry }
func evidenceKVv1(app string) string   { return vault.MountKVv1 + "/" + app + "/" + evidenceEntry }
func evidenceKVv2(app string) string   { return vault.MountKVv2 + "/" + app + "/" + evidenceEntry }
func transitDecrypt(app string) string { return vault.MountTransit + "/decrypt/" + app }

const (
	evidenceEntry = "upgrade-evidence"
	// evidenceVersions is how many KV v2 versions the drill writes.
	evidenceVersions = 3
)

func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func nonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// writeEvidence writes and obtains the evidence, for the sandbox's first app.
func writeEvidence(ctx context.Context, e *scenarios.Env) (*upgradeEvidence, error) {
	app := e.State.Spec.Apps[0]
	root := e.Vault.Root()
	ev := &upgradeEvidence{app: app, kvVersions: map[int]string{}, configs: map[string]string{}, policies: map[string]string{}}

	// A CI login, as the app's Gitea Actions job: its token (policy <app>-ops) writes
	// the KV v2 versions, as provisioning does.
	ci, err := ciLogin(ctx, e, app)
	if err != nil {
		return nil, fmt.Errorf("CI login of %s before the change: %w", app, err)
	}
	ev.ciToken = ci
	ciClient, err := e.Vault.NewClient(ci)
	if err != nil {
		return nil, err
	}
	// A fresh history: the drill's own versions 1..n.
	if err := root.KVv2(vault.MountKVv2).DeleteMetadata(ctx, evidenceKey(app)); err != nil {
		return nil, fmt.Errorf("clear %s: %w", evidenceKVv2(app), err)
	}
	for i := 1; i <= evidenceVersions; i++ {
		n, err := nonce()
		if err != nil {
			return nil, err
		}
		data := map[string]any{"version": fmt.Sprint(i), "nonce": n}
		s, err := ciClient.KVv2(vault.MountKVv2).Put(ctx, evidenceKey(app), data)
		if err != nil {
			return nil, fmt.Errorf("write %s as %s's CI: %w", evidenceKVv2(app), app, err)
		}
		ev.kvVersions[s.VersionMetadata.Version] = digest(data)
	}
	for _, a := range e.State.Spec.Apps {
		d, err := kvDigest(ctx, e, a)
		if err != nil {
			return nil, err
		}
		ev.configs[a] = d
	}

	n, err := nonce()
	if err != nil {
		return nil, err
	}
	kv1 := map[string]any{"nonce": n}
	if err := root.KVv1(vault.MountKVv1).Put(ctx, evidenceKey(app), kv1); err != nil {
		return nil, fmt.Errorf("write %s: %w", evidenceKVv1(app), err)
	}
	ev.kv1 = digest(kv1)

	// The app's runtime token: it encrypts with its transit key and reads its
	// credentials, holding their lease.
	if ev.appToken, err = vault.AppToken(ctx, root, app); err != nil {
		return nil, err
	}
	e.AddSecret(ev.appToken)
	appClient, err := e.Vault.NewClient(ev.appToken)
	if err != nil {
		return nil, err
	}
	if n, err = nonce(); err != nil {
		return nil, err
	}
	ev.plaintext = base64.StdEncoding.EncodeToString([]byte("labsbx upgrade evidence " + n))
	s, err := appClient.Logical().WriteWithContext(ctx, transitEncrypt(app), map[string]any{"plaintext": ev.plaintext})
	if err != nil {
		return nil, fmt.Errorf("encrypt with transit key %s: %w", app, err)
	}
	if s == nil || s.Data["ciphertext"] == nil {
		return nil, fmt.Errorf("encrypt with transit key %s: no ciphertext", app)
	}
	ev.ciphertext, _ = s.Data["ciphertext"].(string)
	if ev.creds, err = vault.AppCredentials(ctx, appClient, app); err != nil {
		return nil, err
	}
	e.AddSecret(ev.creds.Password)
	if err := connectAs(ctx, e, ev.creds, app); err != nil {
		return nil, fmt.Errorf("the dynamic user of %s before the change: %w", app, err)
	}

	names, err := root.Sys().ListPoliciesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the policies: %w", err)
	}
	for _, p := range names {
		rules, err := root.Sys().GetPolicyWithContext(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("read policy %s: %w", p, err)
		}
		ev.policies[p] = digest(rules)
	}
	return ev, nil
}

// ciLogin logs in at jwt/ role gitea_cicd_<app> with a freshly minted job token and
// returns Vault's token (both registered as secrets).
func ciLogin(ctx context.Context, e *scenarios.Env, app string) (string, error) {
	kp, err := e.State.CISigningKeyPath()
	if err != nil {
		return "", err
	}
	key, _, err := vault.LoadOrCreateSigningKey(kp)
	if err != nil {
		return "", err
	}
	jwt, err := vault.MintCIToken(key, app, vault.CITokenOptions{})
	if err != nil {
		return "", err
	}
	e.AddSecret(jwt)
	anon, err := e.Vault.NewClient("")
	if err != nil {
		return "", err
	}
	s, err := vault.CILogin(ctx, anon, app, jwt)
	if err != nil {
		return "", err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return "", errors.New("Vault issued no token")
	}
	e.AddSecret(s.Auth.ClientToken)
	return s.Auth.ClientToken, nil
}

// kubeLogin logs in at kubernetes/ role <app> as the app's pods do (through VSO):
// with a short-lived token of ServiceAccount <app>/<app>, requested from the sandbox's
// cluster (the guard's approved connection), which Vault reviews against the cluster.
// The Vault token it gets must read the app's config; it is revoked after.
func kubeLogin(ctx context.Context, e *scenarios.Env, app string) error {
	_, cs, err := e.Conn().Kube(ctx)
	if err != nil {
		return err
	}
	ttl := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(app).CreateToken(ctx, app, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("a token of ServiceAccount %s/%s: %w", app, app, err)
	}
	e.AddSecret(tr.Status.Token)
	anon, err := e.Vault.NewClient("")
	if err != nil {
		return err
	}
	s, err := anon.Logical().WriteWithContext(ctx, "auth/"+vault.AuthK8s+"/login", map[string]any{"role": app, "jwt": tr.Status.Token})
	if err != nil {
		return err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return errors.New("Vault issued no token")
	}
	e.AddSecret(s.Auth.ClientToken)
	c, err := e.Vault.NewClient(s.Auth.ClientToken)
	if err != nil {
		return err
	}
	defer revokeSelf(ctx, c)
	got, err := c.Logical().ReadWithContext(ctx, vault.ConfigPath(app))
	if err == nil && got == nil {
		err = fmt.Errorf("%s: no data", vault.ConfigPath(app))
	}
	return err
}

// connectAs connects to Postgres as creds and checks they carry <app>_role.
func connectAs(ctx context.Context, e *scenarios.Env, creds vault.Credentials, app string) error {
	ep := e.PGAdmin
	ep.User, ep.Password = creds.User, creds.Password
	conn, err := postgres.Connect(ctx, ep)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	ok, err := postgres.MemberOf(ctx, conn, creds.User, postgres.AppRole(app))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("user %s is not a member of %s", creds.User, postgres.AppRole(app))
	}
	return nil
}

// goodRequest is one request as the app makes it: its runtime token reads its config.
// The unavailability window is measured with it.
func (ev *upgradeEvidence) goodRequest(ctx context.Context, e *scenarios.Env) error {
	c, err := e.Vault.NewClient(ev.appToken)
	if err != nil {
		return err
	}
	s, err := c.Logical().ReadWithContext(ctx, vault.ConfigPath(ev.app))
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("%s: no data", vault.ConfigPath(ev.app))
	}
	return nil
}

// check checks every piece of evidence once, in the order written, and says of each
// whether it survived.
func (ev *upgradeEvidence) check(ctx context.Context, e *scenarios.Env) []report.Evidence {
	var out []report.Evidence
	add := func(name, ok string, err error) {
		r := report.Evidence{Name: name, Survived: err == nil, Detail: ok}
		if err != nil {
			r.Detail = e.Redact(err.Error())
		}
		out = append(out, r)
	}
	root := e.Vault.Root()
	app := ev.app

	add(fmt.Sprintf("KV v2 %s, %d versions", evidenceKVv2(app), len(ev.kvVersions)), "every version reads back unchanged", ev.checkKVv2(ctx, root))
	for _, a := range slices.Sorted(maps.Keys(ev.configs)) {
		d, err := kvDigest(ctx, e, a)
		if err == nil && d != ev.configs[a] {
			err = fmt.Errorf("was %s, now %s", ev.configs[a], d)
		}
		add("KV v2 "+vault.MountKVv2+"/"+a+"/config, every version", d, err)
	}
	add("KV v1 "+evidenceKVv1(app), "reads back unchanged", ev.checkKVv1(ctx, root))

	appClient, err := e.Vault.NewClient(ev.appToken)
	if err != nil {
		add("app token", "", err)
		return out
	}
	_, err = appClient.Auth().Token().LookupSelfWithContext(ctx)
	add("app token (policy "+vault.RuntimePolicy(app)+")", "issued before the change, still valid", err)
	add("transit ciphertext (key "+app+")", "decrypts to the plaintext, with the app's token", ev.checkTransit(ctx, appClient))
	_, err = appClient.Sys().RenewWithContext(ctx, ev.creds.Lease, 0)
	if err != nil {
		err = fmt.Errorf("the lease is lost: %w", err)
	}
	add("lease of the dynamic Postgres user", "renews", err)
	add("dynamic Postgres user", "still connects, as "+postgres.AppRole(app), connectAs(ctx, e, ev.creds, app))

	ciClient, err := e.Vault.NewClient(ev.ciToken)
	if err == nil {
		_, err = ciClient.Auth().Token().LookupSelfWithContext(ctx)
	}
	add("CI token (jwt/ role "+vault.CIRole(app)+")", "issued before the change, still valid", err)
	fresh, err := ciLogin(ctx, e, app)
	if err == nil {
		if c, cerr := e.Vault.NewClient(fresh); cerr != nil {
			err = cerr
		} else {
			_, err = c.KVv2(vault.MountKVv2).Get(ctx, evidenceKey(app))
			revokeSelf(ctx, c)
		}
	}
	add("CI login (JWT)", "a new login works, and its token reads "+evidenceKVv2(app), err)
	if e.State.Profile == config.ProfileFull {
		add("Kubernetes login (kubernetes/ role "+app+")", "a new login with a token of ServiceAccount "+app+"/"+app+" works, and its token reads "+vault.ConfigPath(app), kubeLogin(ctx, e, app))
	}
	add(fmt.Sprintf("policies (%d)", len(ev.policies)), "every policy unchanged", ev.checkPolicies(ctx, root))
	return out
}

func (ev *upgradeEvidence) checkKVv2(ctx context.Context, root *api.Client) error {
	var bad []string
	for _, v := range slices.Sorted(maps.Keys(ev.kvVersions)) {
		s, err := root.KVv2(vault.MountKVv2).GetVersion(ctx, evidenceKey(ev.app), v)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("version %d: %v", v, err))
		case digest(s.Data) != ev.kvVersions[v]:
			bad = append(bad, fmt.Sprintf("version %d changed", v))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

func (ev *upgradeEvidence) checkKVv1(ctx context.Context, root *api.Client) error {
	s, err := root.KVv1(vault.MountKVv1).Get(ctx, evidenceKey(ev.app))
	if err != nil {
		return err
	}
	if digest(s.Data) != ev.kv1 {
		return errors.New("changed")
	}
	return nil
}

func (ev *upgradeEvidence) checkTransit(ctx context.Context, c *api.Client) error {
	s, err := c.Logical().WriteWithContext(ctx, transitDecrypt(ev.app), map[string]any{"ciphertext": ev.ciphertext})
	if err != nil {
		return err
	}
	if s == nil || s.Data["plaintext"] != ev.plaintext {
		return errors.New("decrypts to something else")
	}
	return nil
}

func (ev *upgradeEvidence) checkPolicies(ctx context.Context, root *api.Client) error {
	names, err := root.Sys().ListPoliciesWithContext(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, p := range slices.Sorted(maps.Keys(ev.policies)) {
		if !slices.Contains(names, p) {
			bad = append(bad, p+" is gone")
			continue
		}
		rules, err := root.Sys().GetPolicyWithContext(ctx, p)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if digest(rules) != ev.policies[p] {
			bad = append(bad, p+" changed")
		}
	}
	for _, p := range names {
		if _, ok := ev.policies[p]; !ok {
			bad = append(bad, p+" is new")
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// cleanup revokes what the drill obtained and removes what it wrote (best effort:
// the next run starts its history afresh anyway).
func (ev *upgradeEvidence) cleanup(ctx context.Context, e *scenarios.Env) {
	root := e.Vault.Root()
	_ = root.Sys().RevokeWithContext(ctx, ev.creds.Lease)
	for _, t := range []string{ev.appToken, ev.ciToken} {
		if c, err := e.Vault.NewClient(t); err == nil {
			revokeSelf(ctx, c)
		}
	}
	_ = root.KVv2(vault.MountKVv2).DeleteMetadata(ctx, evidenceKey(ev.app))
	_, _ = root.Logical().DeleteWithContext(ctx, evidenceKVv1(ev.app))
}

func revokeSelf(ctx context.Context, c *api.Client) {
	_ = c.Auth().Token().RevokeSelfWithContext(ctx, "")
}
