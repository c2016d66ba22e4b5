package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/internal/redact"
	"github.com/arcodange/labsbx/sandbox/postgres"
)

// Layout is everything the bootstrap needs to lay the sandbox Vault out like production.
type Layout struct {
	Apps []string
	// Database is how Vault (not labsbx) reaches Postgres, as Vault's admin user.
	Database postgres.Endpoint
	// DefaultTTL and MaxTTL of the dynamic credentials.
	DefaultTTL, MaxTTL time.Duration
	// JWTPublicKeyPEM validates CI tokens (jwt_validation_pubkeys).
	JWTPublicKeyPEM string
	// Kubernetes configures kubernetes/ auth when a cluster exists; nil leaves it
	// enabled but unconfigured (the vault profile).
	Kubernetes *KubernetesAuth
}

// KubernetesAuth is how Vault reaches the cluster's TokenReview API: from outside
// (Host, CACertPEM and a reviewer token), or from inside the cluster.
type KubernetesAuth struct {
	Host             string
	CACertPEM        string
	TokenReviewerJWT string
	// InCluster: Vault runs in the cluster (the full profile). It reaches the API at
	// InClusterHost, trusting CACertPEM (the cluster CA, which also signs that
	// address's certificate), and reviews tokens with its own pod's ServiceAccount
	// token, which the Vault chart's auth-delegator binding allows. Host and
	// TokenReviewerJWT are not used.
	InCluster bool
}

// InClusterHost is the API server as a pod sees it.
const InClusterHost = "https://kubernetes.default.svc:443"

// Change is one thing the bootstrap changed.
type Change struct {
	Path   string `json:"path"`
	Action string `json:"action"`
}

func (c Change) String() string { return c.Action + " " + c.Path }

// Bootstrap converges Vault to the layout. It reads before it writes, so a second run
// on a converged Vault changes nothing and returns no changes. The client needs the
// root token.
func Bootstrap(ctx context.Context, c *api.Client, l Layout) ([]Change, error) {
	b := &bootstrapper{c: c, ctx: ctx}
	err := b.run(l)
	sort.SliceStable(b.changes, func(i, j int) bool { return b.changes[i].Path < b.changes[j].Path })
	return b.changes, err
}

// parallelism bounds the requests in flight: the work is independent per mount and per
// app, and Vault serves it concurrently.
const parallelism = 8

type bootstrapper struct {
	c   *api.Client
	ctx context.Context

	mu      sync.Mutex
	changes []Change
}

func (b *bootstrapper) changed(path, action string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changes = append(b.changes, Change{Path: path, Action: action})
}

// each runs fn for every item, at most parallelism at a time, and returns the first error.
func each[T any](items []T, fn func(T) error) error {
	var g errgroup.Group
	g.SetLimit(parallelism)
	for _, it := range items {
		g.Go(func() error { return fn(it) })
	}
	return g.Wait()
}

type mountSpec struct {
	path, typ string
	opts      map[string]string
}

func (b *bootstrapper) run(l Layout) error {
	mounts, err := b.c.Sys().ListMountsWithContext(b.ctx)
	if err != nil {
		return fmt.Errorf("list secrets engines: %w", err)
	}
	auths, err := b.c.Sys().ListAuthWithContext(b.ctx)
	if err != nil {
		return fmt.Errorf("list auth methods: %w", err)
	}
	// Mounts and auth methods first: everything else lives under them.
	err = each([]mountSpec{
		{MountKVv2, "kv", map[string]string{"version": "2"}},
		{MountKVv1, "kv", map[string]string{"version": "1"}},
		{MountTransit, "transit", nil},
		{MountDatabase, "database", nil},
		{"auth/" + AuthK8s, AuthK8s, nil},
		{"auth/" + AuthJWT, AuthJWT, nil},
	}, func(m mountSpec) error {
		if path, ok := strings.CutPrefix(m.path, "auth/"); ok {
			return b.ensureAuth(auths, path, m.typ)
		}
		return b.ensureMount(mounts, m.path, m.typ, m.opts)
	})
	if err != nil {
		return err
	}
	err = each([]func() error{
		func() error { return b.ensureDBConnection(l) },
		func() error {
			return b.ensure("auth/"+AuthJWT+"/config", map[string]any{
				"jwt_validation_pubkeys": []string{l.JWTPublicKeyPEM},
				"bound_issuer":           CIIssuer,
			})
		},
		func() error {
			k := l.Kubernetes
			if k == nil {
				return nil
			}
			if k.InCluster {
				return b.ensure("auth/"+AuthK8s+"/config", map[string]any{
					"kubernetes_host":      InClusterHost,
					"kubernetes_ca_cert":   k.CACertPEM,
					"disable_local_ca_jwt": false,
				})
			}
			return b.ensureWithSecret("auth/"+AuthK8s+"/config", map[string]any{
				"kubernetes_host":    k.Host,
				"kubernetes_ca_cert": k.CACertPEM,
			}, map[string]any{
				"token_reviewer_jwt":   k.TokenReviewerJWT,
				"disable_local_ca_jwt": true,
			})
		},
	}, func(f func() error) error { return f() })
	if err != nil {
		return err
	}
	return each(l.Apps, func(app string) error {
		if err := b.app(app, l); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
		return nil
	})
}

func (b *bootstrapper) app(app string, l Layout) error {
	// Static config, seeded once: a later write by CI is the app's own business.
	cfg, err := b.c.Logical().ReadWithContext(b.ctx, ConfigPath(app))
	if err != nil {
		return fmt.Errorf("read %s: %w", ConfigPath(app), err)
	}
	if cfg == nil {
		if _, err := b.c.Logical().WriteWithContext(b.ctx, ConfigPath(app), map[string]any{
			"data": map[string]any{"app": app, "environment": "sandbox", "database_schema": app},
		}); err != nil {
			return fmt.Errorf("seed %s: %w", ConfigPath(app), err)
		}
		b.changed(MountKVv2+"/"+app+"/config", "seeded")
	}
	key, err := b.c.Logical().ReadWithContext(b.ctx, MountTransit+"/keys/"+app)
	if err != nil {
		return fmt.Errorf("read transit key %s: %w", app, err)
	}
	if key == nil {
		if _, err := b.c.Logical().WriteWithContext(b.ctx, MountTransit+"/keys/"+app, map[string]any{"type": "aes256-gcm96"}); err != nil {
			return fmt.Errorf("create transit key %s: %w", app, err)
		}
		b.changed(MountTransit+"/keys/"+app, "created")
	}
	if err := b.ensure(MountDatabase+"/roles/"+app, map[string]any{
		"db_name":             DBConnection,
		"creation_statements": postgres.CreationStatements(app),
		"default_ttl":         int(l.DefaultTTL.Seconds()),
		"max_ttl":             int(l.MaxTTL.Seconds()),
	}); err != nil {
		return err
	}
	for name, hcl := range map[string]string{RuntimePolicy(app): runtimePolicyHCL(app), OpsPolicy(app): opsPolicyHCL(app)} {
		if err := b.ensurePolicy(name, hcl); err != nil {
			return err
		}
	}
	if err := b.ensure("auth/"+AuthK8s+"/role/"+app, map[string]any{
		"bound_service_account_names":      []string{app},
		"bound_service_account_namespaces": []string{app},
		"token_policies":                   []string{RuntimePolicy(app)},
		"token_ttl":                        3600,
	}); err != nil {
		return err
	}
	return b.ensure("auth/"+AuthJWT+"/role/"+CIRole(app), map[string]any{
		"role_type":         "jwt",
		"bound_audiences":   []string{CIAudience},
		"user_claim":        "sub",
		"bound_claims_type": "string",
		"bound_claims":      map[string]any{"repository": CIRepository(app)},
		"token_policies":    []string{OpsPolicy(app)},
		"token_ttl":         900,
	})
}

func (b *bootstrapper) ensureMount(mounts map[string]*api.MountOutput, path, typ string, opts map[string]string) error {
	if m, ok := mounts[path+"/"]; ok {
		if m.Type != typ || (opts["version"] != "" && m.Options["version"] != opts["version"]) {
			return fmt.Errorf("mount %s/ exists as %s (options %v), want %s %v; run `labsbx down` and `labsbx up` to start clean", path, m.Type, m.Options, typ, opts)
		}
		return nil
	}
	if err := b.c.Sys().MountWithContext(b.ctx, path, &api.MountInput{Type: typ, Options: opts}); err != nil {
		return fmt.Errorf("enable secrets engine %s/: %w", path, err)
	}
	b.changed(path+"/", "enabled "+typ+" secrets engine")
	return nil
}

func (b *bootstrapper) ensureAuth(auths map[string]*api.AuthMount, path, typ string) error {
	if a, ok := auths[path+"/"]; ok {
		if a.Type != typ {
			return fmt.Errorf("auth mount %s/ exists as %s, want %s", path, a.Type, typ)
		}
		return nil
	}
	if err := b.c.Sys().EnableAuthWithOptionsWithContext(b.ctx, path, &api.EnableAuthOptions{Type: typ}); err != nil {
		return fmt.Errorf("enable auth method %s/: %w", path, err)
	}
	b.changed("auth/"+path+"/", "enabled "+typ+" auth method")
	return nil
}

func (b *bootstrapper) ensurePolicy(name, hcl string) error {
	cur, err := b.c.Sys().GetPolicyWithContext(b.ctx, name)
	if err != nil {
		return fmt.Errorf("read policy %s: %w", name, err)
	}
	if cur == hcl {
		return nil
	}
	if err := b.c.Sys().PutPolicyWithContext(b.ctx, name, hcl); err != nil {
		return fmt.Errorf("write policy %s: %w", name, err)
	}
	b.changed("sys/policies/acl/"+name, "wrote policy")
	return nil
}

// ensureDBConnection configures the database engine's connection to Postgres as
// Vault's admin user. The password cannot be read back, so only the readable fields
// decide whether to write.
func (b *bootstrapper) ensureDBConnection(l Layout) error {
	path := MountDatabase + "/config/" + DBConnection
	u := url.URL{Scheme: "postgresql", Host: net.JoinHostPort(l.Database.Host, strconv.Itoa(l.Database.Port)),
		Path: "/" + l.Database.Database, RawQuery: "sslmode=disable"}
	connURL := "postgresql://{{username}}:{{password}}@" + u.Host + u.Path + "?" + u.RawQuery
	cur, err := b.c.Logical().ReadWithContext(b.ctx, path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if cur != nil {
		details, _ := cur.Data["connection_details"].(map[string]any)
		if cur.Data["plugin_name"] == "postgresql-database-plugin" && details != nil &&
			details["connection_url"] == connURL && details["username"] == l.Database.User &&
			sameJSON(cur.Data["allowed_roles"], l.Apps) {
			return nil
		}
	}
	if _, err := b.c.Logical().WriteWithContext(b.ctx, path, map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    connURL,
		"username":          l.Database.User,
		"password":          l.Database.Password,
		"allowed_roles":     l.Apps,
		"verify_connection": true,
	}); err != nil {
		return fmt.Errorf("configure %s: %w", path, redactErr(err, l.Database.Password))
	}
	b.changed(path, "configured connection")
	return nil
}

// ensure writes want to path unless every field already reads back equal.
func (b *bootstrapper) ensure(path string, want map[string]any) error {
	return b.ensureWithSecret(path, want, nil)
}

// ensureWithSecret is ensure for endpoints that also take write-only fields: those are
// sent with every write but do not take part in the comparison.
func (b *bootstrapper) ensureWithSecret(path string, want, writeOnly map[string]any) error {
	cur, err := b.c.Logical().ReadWithContext(b.ctx, path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if cur != nil && fieldsEqual(cur.Data, want) {
		return nil
	}
	data := make(map[string]any, len(want)+len(writeOnly))
	for k, v := range want {
		data[k] = v
	}
	for k, v := range writeOnly {
		data[k] = v
	}
	if _, err := b.c.Logical().WriteWithContext(b.ctx, path, data); err != nil {
		var secrets []string
		for _, v := range writeOnly {
			if s, ok := v.(string); ok {
				secrets = append(secrets, s)
			}
		}
		return fmt.Errorf("write %s: %w", path, redact.Err(err, secrets...))
	}
	action := "updated"
	if cur == nil {
		action = "created"
	}
	b.changed(path, action)
	return nil
}

// fieldsEqual compares the wanted fields with what Vault returned, through JSON so that
// json.Number and int, or []any and []string, compare equal.
func fieldsEqual(got, want map[string]any) bool {
	for k, v := range want {
		if !sameJSON(got[k], v) {
			return false
		}
	}
	return true
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
