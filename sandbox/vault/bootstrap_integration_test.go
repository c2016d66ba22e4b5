package vault_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/vault/api"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// sandboxVault is a real Vault initialised the way labsbx does it: through the guard,
// with the key saved under a state dir, and reached through an approved client.
type sandboxVault struct {
	rec   guard.Record
	proof guard.ReceiverProof
	root  *api.Client
	keys  *vault.Keys
}

func newSandboxVault(t testing.TB) *sandboxVault {
	t.Helper()
	srv := testenv.Vault(t)
	ctx := context.Background()
	rec := guard.Record{Name: "it", UUID: uuid.NewString(), StateDir: t.TempDir(), Vault: &guard.VaultRecord{Addr: srv.Addr}}
	appr, err := guard.ApproveVaultInit(ctx, rec, srv.Addr, srv.Receiver())
	if err != nil {
		t.Fatal(err)
	}
	c, err := appr.Client()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := guard.ApproveKeyPath(rec, filepath.Join(rec.StateDir, "secrets", vault.KeysFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.Init(ctx, c, kp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Unseal(ctx, c, keys); err != nil {
		t.Fatal(err)
	}
	if rec.Vault.ClusterID, err = appr.ClusterID(ctx); err != nil {
		t.Fatal(err)
	}
	appr, err = guard.ApproveVault(ctx, rec, srv.Receiver())
	if err != nil {
		t.Fatal(err)
	}
	root, err := appr.Client()
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(keys.RootToken)
	return &sandboxVault{rec: rec, proof: srv.Receiver(), root: root, keys: keys}
}

// token returns a client of the same Vault holding tok.
func (s *sandboxVault) token(t testing.TB, tok string) *api.Client {
	t.Helper()
	appr, err := guard.ApproveVault(context.Background(), s.rec, s.proof)
	if err != nil {
		t.Fatal(err)
	}
	c, err := appr.Client()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// preparedPostgres is a real Postgres with vault_admin and each app's role and schema.
func preparedPostgres(t testing.TB, apps []string) (admin postgres.Endpoint, vaultUser postgres.Endpoint) {
	t.Helper()
	pg := testenv.Postgres(t)
	admin = pg.Endpoint(pg.User, pg.Password, pg.Database)
	ctx := context.Background()
	c, err := postgres.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	vaultUser = admin
	vaultUser.User, vaultUser.Password = postgres.VaultAdmin, "vault-admin-"+uuid.NewString()
	if _, err := postgres.EnsureVaultAdmin(ctx, c, vaultUser.Password); err != nil {
		t.Fatal(err)
	}
	for _, app := range apps {
		if _, err := postgres.EnsureApp(ctx, c, app); err != nil {
			t.Fatal(err)
		}
	}
	return admin, vaultUser
}

func layout(t testing.TB, apps []string, db postgres.Endpoint, key *rsa.PrivateKey) vault.Layout {
	t.Helper()
	pub, err := vault.PublicKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return vault.Layout{Apps: apps, Database: db, DefaultTTL: time.Minute, MaxTTL: 10 * time.Minute, JWTPublicKeyPEM: pub}
}

func mustKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIntegrationBootstrapLayout(t *testing.T) {
	apps := []string{"webapp", "billing"}
	sv := newSandboxVault(t)
	admin, vaultUser := preparedPostgres(t, apps)
	key := mustKey(t)
	l := layout(t, apps, vaultUser, key)
	ctx := context.Background()

	changes, err := vault.Bootstrap(ctx, sv.root, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		t.Fatal("first bootstrap reported no changes")
	}
	again, err := vault.Bootstrap(ctx, sv.root, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second bootstrap changed things: %v", again)
	}

	t.Run("runtime token", func(t *testing.T) {
		tok, err := sv.root.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{vault.RuntimePolicy("webapp")}, NoDefaultPolicy: false})
		if err != nil {
			t.Fatal(err)
		}
		rt := sv.token(t, tok.Auth.ClientToken)
		cfg, err := rt.Logical().ReadWithContext(ctx, vault.ConfigPath("webapp"))
		if err != nil || cfg == nil {
			t.Fatalf("runtime token cannot read its config: %v", err)
		}
		creds, err := rt.Logical().ReadWithContext(ctx, vault.CredsPath("webapp"))
		if err != nil || creds == nil {
			t.Fatalf("runtime token cannot read its credentials: %v", err)
		}
		user, _ := creds.Data["username"].(string)
		pass, _ := creds.Data["password"].(string)
		appEP := admin
		appEP.User, appEP.Password = user, pass
		c, err := postgres.Connect(ctx, appEP)
		if err != nil {
			t.Fatalf("dynamic credentials do not connect: %v", err)
		}
		defer c.Close(ctx)
		member, err := postgres.MemberOf(ctx, c, user, postgres.AppRole("webapp"))
		if err != nil || !member {
			t.Fatalf("dynamic user %s is not a member of webapp_role (%v)", user, err)
		}
		if _, err := c.Exec(ctx, `CREATE TABLE webapp.t (id int)`); err != nil {
			t.Fatalf("dynamic user cannot use its schema: %v", err)
		}
		ct, err := rt.Logical().WriteWithContext(ctx, "transit/encrypt/webapp", map[string]any{"plaintext": "aGVsbG8="})
		if err != nil || ct == nil {
			t.Fatalf("runtime token cannot encrypt with its transit key: %v", err)
		}
		for _, denied := range []struct{ op, path string }{
			{"read", vault.ConfigPath("billing")},
			{"read", vault.CredsPath("billing")},
			{"write", vault.ConfigPath("webapp")},
			{"write", "transit/encrypt/billing"},
			{"write", "kv/webapp"},
			{"write", "sys/policies/acl/webapp"},
		} {
			var err error
			if denied.op == "read" {
				_, err = rt.Logical().ReadWithContext(ctx, denied.path)
			} else {
				_, err = rt.Logical().WriteWithContext(ctx, denied.path, map[string]any{"data": map[string]any{"x": "y"}, "plaintext": "aGVsbG8=", "policy": ""})
			}
			if err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("runtime token: %s %s = %v, want permission denied", denied.op, denied.path, err)
			}
		}
	})

	// The runtime identity renews its own lease (Vault's default policy, which a
	// kubernetes login carries too) but revokes nothing: neither its own lease, by
	// body or by URL, nor a prefix, nor another app's. VSO's revocation on deletion
	// would get a 403, hence the demo app's VaultDynamicSecret has revoke: false.
	t.Run("runtime token cannot revoke", func(t *testing.T) {
		tok, err := sv.root.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{vault.RuntimePolicy("webapp")}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(tok.Auth.Policies, "default") {
			t.Fatalf("runtime token policies %v, want default among them", tok.Auth.Policies)
		}
		rt := sv.token(t, tok.Auth.ClientToken)
		own, err := rt.Logical().ReadWithContext(ctx, vault.CredsPath("webapp"))
		if err != nil || own == nil {
			t.Fatalf("read own credentials: %v", err)
		}
		other, err := sv.root.Logical().ReadWithContext(ctx, vault.CredsPath("billing"))
		if err != nil || other == nil {
			t.Fatalf("read billing's credentials: %v", err)
		}
		if _, err := rt.Sys().RenewWithContext(ctx, own.LeaseID, 0); err != nil {
			t.Errorf("runtime token cannot renew its own lease (VSO needs it): %v", err)
		}
		for what, try := range map[string]func() error{
			"its own lease": func() error { return rt.Sys().RevokeWithContext(ctx, own.LeaseID) },
			"its own lease, in the URL": func() error {
				_, err := rt.Logical().WriteWithContext(ctx, "sys/leases/revoke/"+own.LeaseID, nil)
				return err
			},
			"its lease prefix":    func() error { return rt.Sys().RevokePrefixWithContext(ctx, vault.CredsPath("webapp")) },
			"another app's lease": func() error { return rt.Sys().RevokeWithContext(ctx, other.LeaseID) },
		} {
			if err := try(); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("runtime token revoking %s: %v, want permission denied", what, err)
			}
		}
		for _, lease := range []string{own.LeaseID, other.LeaseID} {
			if _, err := sv.root.Logical().WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": lease}); err != nil {
				t.Errorf("lease %s is gone: %v", lease, err)
			}
		}
	})

	t.Run("jwt", func(t *testing.T) {
		login := func(role, jwt string) (*api.Secret, error) {
			c := sv.token(t, "")
			return c.Logical().WriteWithContext(ctx, "auth/jwt/login", map[string]any{"role": role, "jwt": jwt})
		}
		good, err := vault.MintCIToken(key, "webapp", vault.CITokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := login(vault.CIRole("webapp"), good)
		if err != nil {
			t.Fatalf("CI login: %v", err)
		}
		ci := sv.token(t, s.Auth.ClientToken)
		if _, err := ci.Logical().WriteWithContext(ctx, vault.ConfigPath("webapp"), map[string]any{"data": map[string]any{"written_by": "ci"}}); err != nil {
			t.Fatalf("CI cannot write its config: %v", err)
		}
		if _, err := ci.Logical().ReadWithContext(ctx, "kvv2/metadata/webapp/config"); err != nil {
			t.Fatalf("CI cannot read its metadata: %v", err)
		}
		if _, err := ci.Logical().WriteWithContext(ctx, vault.ConfigPath("billing"), map[string]any{"data": map[string]any{"x": "y"}}); err == nil {
			t.Error("CI of webapp wrote billing's config")
		}
		if _, err := ci.Logical().ReadWithContext(ctx, vault.CredsPath("webapp")); err == nil {
			t.Error("CI token read runtime credentials")
		}
		// After the CI write, a re-run of the bootstrap leaves the app's config alone.
		if ch, err := vault.Bootstrap(ctx, sv.root, l); err != nil || len(ch) != 0 {
			t.Errorf("bootstrap after a CI write: %v, %v", ch, err)
		}

		bad := map[string]string{}
		bad["wrong audience"], _ = vault.MintCIToken(key, "webapp", vault.CITokenOptions{Audience: "someone-else"})
		bad["another app's repository"], _ = vault.MintCIToken(key, "billing", vault.CITokenOptions{})
		bad["expired"], _ = vault.MintCIToken(key, "webapp", vault.CITokenOptions{Now: time.Now().Add(-time.Hour), TTL: time.Minute})
		bad["another signing key"], _ = vault.MintCIToken(mustKey(t), "webapp", vault.CITokenOptions{})
		for name, tok := range bad {
			if _, err := login(vault.CIRole("webapp"), tok); err == nil {
				t.Errorf("%s: login at %s succeeded", name, vault.CIRole("webapp"))
			}
		}
	})
}

func TestIntegrationKubernetesAuth(t *testing.T) {
	apps := []string{"webapp"}
	sv := newSandboxVault(t)
	_, vaultUser := preparedPostgres(t, apps)
	kube := testenv.KubeAPIServer(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	saToken := func(ns, sa string) string {
		t.Helper()
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	l := layout(t, apps, vaultUser, mustKey(t))
	l.Kubernetes = &vault.KubernetesAuth{Host: kube.Host, CACertPEM: string(kube.CAPEM), TokenReviewerJWT: kube.Config.BearerToken}
	if _, err := vault.Bootstrap(ctx, sv.root, l); err != nil {
		t.Fatal(err)
	}
	if ch, err := vault.Bootstrap(ctx, sv.root, l); err != nil || len(ch) != 0 {
		t.Fatalf("second bootstrap with kubernetes auth: %v, %v", ch, err)
	}
	// The full profile's Vault runs in the cluster: it reviews tokens as its own pod.
	inCluster := l
	inCluster.Kubernetes = &vault.KubernetesAuth{InCluster: true, CACertPEM: string(kube.CAPEM)}
	if ch, err := vault.Bootstrap(ctx, sv.root, inCluster); err != nil || len(ch) != 1 || ch[0].Path != "auth/kubernetes/config" {
		t.Fatalf("bootstrap in-cluster: %v, %v", ch, err)
	}
	cfg, err := sv.root.Logical().ReadWithContext(ctx, "auth/kubernetes/config")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data["kubernetes_host"] != vault.InClusterHost || cfg.Data["disable_local_ca_jwt"] != false || cfg.Data["kubernetes_ca_cert"] != string(kube.CAPEM) {
		t.Errorf("in-cluster config = %v", cfg.Data)
	}
	if ch, err := vault.Bootstrap(ctx, sv.root, inCluster); err != nil || len(ch) != 0 {
		t.Fatalf("second in-cluster bootstrap: %v, %v", ch, err)
	}
	// And back: the outside view again, for the logins below.
	if _, err := vault.Bootstrap(ctx, sv.root, l); err != nil {
		t.Fatal(err)
	}
	login := func(jwt string) (*api.Secret, error) {
		return sv.token(t, "").Logical().WriteWithContext(ctx, "auth/kubernetes/login", map[string]any{"role": "webapp", "jwt": jwt})
	}
	s, err := login(saToken("webapp", "webapp"))
	if err != nil {
		t.Fatalf("ServiceAccount webapp/webapp cannot log in at role webapp: %v", err)
	}
	if fmt.Sprint(s.Auth.Policies) != "[default webapp]" {
		t.Errorf("policies = %v, want [default webapp]", s.Auth.Policies)
	}
	for name, tok := range map[string]string{
		"another ServiceAccount": saToken("webapp", "other"),
		"another namespace":      saToken("billing", "webapp"),
		"garbage":                "not-a-jwt",
	} {
		if _, err := login(tok); err == nil {
			t.Errorf("%s logged in at role webapp", name)
		}
	}
}

// BenchmarkBootstrap converges a fresh Vault for 0, 1, 10 and 100 apps and reports the
// time per app (target: at most 20 ms per app). apps=0 is the fixed cost: mounts, auth
// methods and the database connection.
func BenchmarkBootstrap(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100} {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			apps := make([]string, n)
			for i := range apps {
				apps[i] = fmt.Sprintf("app%03d", i)
			}
			_, vaultUser := preparedPostgres(b, apps)
			key := mustKey(b)
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sv := newSandboxVault(b)
				b.StartTimer()
				t0 := time.Now()
				if _, err := vault.Bootstrap(context.Background(), sv.root, layout(b, apps, vaultUser, key)); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/bootstrap")
			if n > 0 {
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N*n), "ms/app")
			}
		})
	}
}
