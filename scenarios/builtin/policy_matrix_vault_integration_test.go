package builtin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios/report"
)

// The matrix against a real Vault server (no Docker, no database connection): the
// layout's mounts, policies and CI roles by hand, as the bootstrap makes them. With
// no database role behind postgres/creds/<app>, an allowed read there gets Vault's
// error, which is no 403: what the matrix counts as allowed.
func TestIntegrationPolicyMatrixOnVault(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Vault(t)
	newClient := func(token string) (*api.Client, error) {
		cfg := api.DefaultConfig()
		cfg.Address = srv.Addr
		c, err := api.NewClient(cfg)
		if err == nil {
			c.SetMaxRetries(0)
			c.SetToken(token)
		}
		return c, err
	}
	root, err := newClient("")
	if err != nil {
		t.Fatal(err)
	}
	init, err := root.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Sys().UnsealWithContext(ctx, init.KeysB64[0]); err != nil {
		t.Fatal(err)
	}
	root.SetToken(init.RootToken)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := vault.PublicKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	apps := []string{"webapp", "billing"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().MountWithContext(ctx, vault.MountKVv2, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	must(root.Sys().MountWithContext(ctx, vault.MountKVv1, &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}))
	must(root.Sys().MountWithContext(ctx, vault.MountTransit, &api.MountInput{Type: "transit"}))
	must(root.Sys().MountWithContext(ctx, vault.MountDatabase, &api.MountInput{Type: "database"}))
	must(root.Sys().EnableAuthWithOptionsWithContext(ctx, vault.AuthJWT, &api.EnableAuthOptions{Type: "jwt"}))
	write := func(path string, data map[string]any) {
		t.Helper()
		_, err := root.Logical().WriteWithContext(ctx, path, data)
		must(err)
	}
	write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{pub}, "bound_issuer": vault.CIIssuer})
	for _, app := range apps {
		write(vault.ConfigPath(app), map[string]any{"data": map[string]any{"app": app}})
		write(vault.MountKVv1+"/"+app+"/config", map[string]any{"app": app})
		write(vault.MountTransit+"/keys/"+app, map[string]any{"type": "aes256-gcm96"})
		must(root.Sys().PutPolicyWithContext(ctx, vault.RuntimePolicy(app), hclOf(vault.RuntimeRules(app))))
		must(root.Sys().PutPolicyWithContext(ctx, vault.OpsPolicy(app), hclOf(vault.OpsRules(app))))
		write("auth/jwt/role/"+vault.CIRole(app), map[string]any{
			"role_type": "jwt", "bound_audiences": []string{vault.CIAudience}, "user_claim": "sub",
			"bound_claims_type": "string", "bound_claims": map[string]any{"repository": vault.CIRepository(app)},
			"token_policies": []string{vault.OpsPolicy(app)}, "token_ttl": 900,
		})
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	accessors := func() int {
		s, err := root.Logical().ListWithContext(ctx, "auth/token/accessors")
		must(err)
		return len(s.Data["keys"].([]any))
	}
	before := accessors()
	run := func() []report.Check {
		t.Helper()
		m := &matrixRun{root: root, newClient: newClient, mark: func(string) {}, key: key, otherKey: otherKey, apps: apps}
		checks, err := m.run(ctx)
		if err != nil {
			t.Fatalf("matrix: %v", err)
		}
		if len(checks) != len(matrix(apps)) {
			t.Fatalf("%d checks of %d cells", len(checks), len(matrix(apps)))
		}
		return checks
	}
	for _, c := range run() {
		t.Logf("%-4s %s (%s, %.3f ms)", map[bool]string{true: "ok", false: "FAIL"}[c.Pass], c, c.Detail, c.DurationMs)
		if !c.Pass {
			t.Errorf("failed cell: %s (%s)", c, c.Detail)
		}
	}
	for _, app := range apps {
		for _, path := range []string{kvv2Entry(app), kvEntry(app)} {
			if s, err := root.Logical().ReadWithContext(ctx, path); err != nil || s != nil {
				t.Errorf("test entry %s left behind (%v)", path, err)
			}
		}
	}
	if after := accessors(); after != before {
		t.Errorf("%d tokens after the matrix, %d before", after, before)
	}

	// Loosened by hand: webapp's runtime policy reads billing's data, and its CI may
	// write billing's KV v1 entries. Exactly those cells fail, and the write that got
	// through is deleted.
	loose := hclOf(append(vault.RuntimeRules("webapp"), vault.Rule{Path: "kvv2/data/billing/*", Capabilities: []string{"read"}}))
	must(root.Sys().PutPolicyWithContext(ctx, vault.RuntimePolicy("webapp"), loose))
	looseOps := hclOf(append(vault.OpsRules("webapp"), vault.Rule{Path: "kv/billing/*", Capabilities: []string{"create", "update"}}))
	must(root.Sys().PutPolicyWithContext(ctx, vault.OpsPolicy("webapp"), looseOps))
	var failed []string
	for _, c := range run() {
		if !c.Pass {
			failed = append(failed, c.String())
		}
	}
	want := []string{
		"runtime token of webapp: read kvv2/data/billing/config: expected deny, got allow",
		"CI token of webapp: write kv/billing/labsbx-probe: expected deny, got allow",
	}
	if strings.Join(failed, "\n") != strings.Join(want, "\n") {
		t.Errorf("failed cells:\n%s\nwant\n%s", strings.Join(failed, "\n"), strings.Join(want, "\n"))
	}
	if s, err := root.Logical().ReadWithContext(ctx, kvEntry("billing")); err != nil || s != nil {
		t.Errorf("the entry written through the loosened policy is left (%v)", err)
	}
}

// hclOf writes rules as a policy.
func hclOf(rules []vault.Rule) string {
	var b strings.Builder
	for _, r := range rules {
		q := make([]string, len(r.Capabilities))
		for i, c := range r.Capabilities {
			q[i] = strconv.Quote(c)
		}
		fmt.Fprintf(&b, "path %q {\n  capabilities = [%s]\n}\n", r.Path, strings.Join(q, ", "))
	}
	return b.String()
}
