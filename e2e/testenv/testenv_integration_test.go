package testenv_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/arcodange/labsbx/e2e/testenv"
)

func TestIntegrationVaultInitUnseal(t *testing.T) {
	v := testenv.Vault(t)
	c := testenv.NewVaultClient(t, v.Addr, "")
	ctx := context.Background()

	inited, err := c.Sys().InitStatusWithContext(ctx)
	if err != nil {
		t.Fatalf("sys/init: %v", err)
	}
	if inited {
		t.Fatal("a fresh server reports initialized=true")
	}

	root := testenv.VaultInitUnseal(t, v.Addr)
	if root == "" {
		t.Fatal("empty root token")
	}

	st, err := c.Sys().SealStatusWithContext(ctx)
	if err != nil {
		t.Fatalf("sys/seal-status: %v", err)
	}
	if !st.Initialized || st.Sealed || st.T != 1 || st.N != 1 {
		t.Fatalf("seal status: initialized=%t sealed=%t threshold=%d shares=%d, want true false 1 1", st.Initialized, st.Sealed, st.T, st.N)
	}
	if st.ClusterID == "" {
		t.Fatal("cluster_id is empty after unseal")
	}
	if st.Version != testenv.VaultVersion {
		t.Errorf("version %q, want %q", st.Version, testenv.VaultVersion)
	}

	// The root token works, and the client did not pick one up from the environment.
	c.SetToken(root)
	if _, err := c.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		t.Fatalf("lookup-self with the root token: %v", err)
	}
}

func TestIntegrationPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)

	var user, db, version string
	var super bool
	err = conn.QueryRow(ctx, `SELECT current_user, current_database(), current_setting('server_version_num'),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`).Scan(&user, &db, &version, &super)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if user != pg.User || db != pg.Database || !super {
		t.Fatalf("got user=%q db=%q superuser=%t, want %q %q true", user, db, super, pg.User, pg.Database)
	}
	if !strings.HasPrefix(version, "15") {
		t.Fatalf("server_version_num %s, want 15xxxx", version)
	}

	// A wrong password is refused (host connections use scram-sha-256, not trust).
	bad := *pg
	bad.Password = "wrong"
	if c, err := pgx.Connect(ctx, bad.DSN()); err == nil {
		c.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
}

func TestIntegrationKubeAPIServer(t *testing.T) {
	k := testenv.KubeAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The kubeconfig the helper writes is a working admin config.
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := k.WriteKubeconfig(kcPath, "k3d-labsbx-test"); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kcPath},
		&clientcmd.ConfigOverrides{CurrentContext: "k3d-labsbx-test"}).ClientConfig()
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}

	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		t.Fatalf("/readyz: %q, %v", body, err)
	}

	const ns, sa = "demo", "demo"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create serviceaccount: %v", err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	if tr.Status.Token == "" {
		t.Fatal("TokenRequest returned an empty token")
	}

	review := func(token string) authenticationv1.TokenReviewStatus {
		t.Helper()
		r, err := cs.AuthenticationV1().TokenReviews().Create(ctx,
			&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenReview: %v", err)
		}
		return r.Status
	}
	st := review(tr.Status.Token)
	if want := "system:serviceaccount:" + ns + ":" + sa; !st.Authenticated || st.User.Username != want {
		t.Fatalf("TokenReview of the SA token: authenticated=%t user=%q error=%q, want true %q", st.Authenticated, st.User.Username, st.Error, want)
	}
	if st := review("garbage.not.a.jwt"); st.Authenticated {
		t.Fatalf("a garbage token was authenticated as %q", st.User.Username)
	}

	// RBAC is on: the SA token is authenticated but may not list namespaces.
	saCfg := rest.AnonymousClientConfig(k.Config)
	saCfg.BearerToken = tr.Status.Token
	saCS, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = saCS.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if se, ok := err.(interface{ Status() metav1.Status }); !ok || se.Status().Code != http.StatusForbidden {
		t.Fatalf("listing namespaces with the SA token: %v, want 403 Forbidden", err)
	}
}
