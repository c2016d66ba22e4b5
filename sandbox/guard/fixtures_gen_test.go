package guard

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// -update regenerates fixtures/guard from the templates below. The two CAs are
// kept if they exist, so fingerprints stay stable.
var update = flag.Bool("update", false, "regenerate fixtures/guard")

// fixtureDir is fixtures/guard at the repository root.
var fixtureDir = filepath.Join("..", "..", "fixtures", "guard")

// The sandbox the fixtures describe.
const (
	fxName   = "demo"
	fxUUID   = "6f1c1f3e-5a0b-4d7e-9a53-2b7f0c1d9e42"
	fxServer = "https://0.0.0.0:34567"
	fxCtx    = "k3d-labsbx-demo"
	fxUser   = "admin@k3d-labsbx-demo"
	// fxToken is the credential in every fixture; no reason may contain it.
	fxToken = "fixture-secret-token-3b9d"
)

// newTestCA returns a self-signed CA certificate PEM (the key is discarded).
func newTestCA(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(100, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func loadOrCreateCA(t *testing.T, name, cn string) []byte {
	p := filepath.Join(fixtureDir, name)
	if b, err := os.ReadFile(p); err == nil {
		return b
	}
	b := newTestCA(t, cn)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// kc renders a one-cluster, one-user, one-context kubeconfig.
type kc struct {
	ctx, cluster, user string // context name, its cluster and user fields
	clusterName        string // name of the cluster entry ("" = cluster)
	userName           string // name of the user entry ("" = user)
	clusterBody        string // YAML lines under "cluster:" (indented 4)
	userBody           string // YAML lines under "user:" ("" = token)
	extra              string // appended verbatim
}

func (k kc) render() string {
	if k.clusterName == "" {
		k.clusterName = k.cluster
	}
	if k.userName == "" {
		k.userName = k.user
	}
	if k.userBody == "" {
		k.userBody = "    token: " + fxToken + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %s
  cluster:
%scontexts:
- name: %s
  context:
    cluster: %s
    user: %s
users:
- name: %s
  user:
%scurrent-context: %s
%s`, k.clusterName, k.clusterBody, k.ctx, k.cluster, k.user, k.userName, k.userBody, k.ctx, k.extra)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func body(server, ca string, more ...string) string {
	s := "    server: " + server + "\n"
	if ca != "" {
		s += "    certificate-authority-data: " + ca + "\n"
	}
	for _, m := range more {
		s += "    " + m + "\n"
	}
	return s
}

func TestGenerateFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate fixtures/guard")
	}
	if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	caPEM := loadOrCreateCA(t, "ca.crt", "k3s-server-ca@labsbx-fixture")
	otherPEM := loadOrCreateCA(t, "other-ca.crt", "k3s-server-ca@production")
	ca := base64.StdEncoding.EncodeToString(caPEM)
	other := base64.StdEncoding.EncodeToString(otherPEM)
	bundle := base64.StdEncoding.EncodeToString(append(append([]byte{}, caPEM...), otherPEM...))
	ours := func(b string) kc { return kc{ctx: fxCtx, cluster: fxCtx, user: fxUser, clusterBody: b} }
	good := ours(body(fxServer, ca))
	prod := body("https://192.168.1.10:6443", other)

	files := map[string]string{
		"good.yaml":                   good.render(),
		"good-copy.yaml":              good.render(),
		"good-ca-file.yaml":           ours(body(fxServer, "", "certificate-authority: ca.crt")).render(),
		"lan-server.yaml":             ours(prod).render(),
		"lan-server-our-ca.yaml":      ours(body("https://192.168.1.10:6443", ca)).render(),
		"wrong-ca.yaml":               ours(body(fxServer, other)).render(),
		"ca-bundle.yaml":              ours(body(fxServer, bundle)).render(),
		"no-ca.yaml":                  ours(body(fxServer, "")).render(),
		"ca-file-missing.yaml":        ours(body(fxServer, "", "certificate-authority: does-not-exist.crt")).render(),
		"wrong-port.yaml":             ours(body("https://0.0.0.0:6443", ca)).render(),
		"loopback-other-ip.yaml":      ours(body("https://127.0.0.2:34567", ca)).render(),
		"localhost-domain.yaml":       ours(body("https://localhost.example.com:34567", ca)).render(),
		"localhost-trailing-dot.yaml": ours(body("https://localhost.:34567", ca)).render(),
		"nip-io.yaml":                 ours(body("https://127.0.0.1.nip.io:34567", ca)).render(),
		"localtest-me.yaml":           ours(body("https://localtest.me:34567", ca)).render(),
		"mapped-ipv6.yaml":            ours(body("https://[::ffff:127.0.0.1]:34567", ca)).render(),
		"ipv6-long-form.yaml":         ours(body("https://[0:0:0:0:0:0:0:1]:34567", ca)).render(),
		"ipv6-zone.yaml":              ours(body("https://[::1%25lo]:34567", ca)).render(),
		"decimal-ipv4.yaml":           ours(body("https://2130706433:34567", ca)).render(),
		"octal-ipv4.yaml":             ours(body("https://0177.0.0.1:34567", ca)).render(),
		"hex-ipv4.yaml":               ours(body("https://0x7f.0.0.1:34567", ca)).render(),
		"short-ipv4.yaml":             ours(body("https://127.1:34567", ca)).render(),
		"lookalike-host.yaml":         ours(body("https://l\u043ecalhost:34567", ca)).render(),
		"fullwidth-host.yaml":         ours(body("https://\uff10.0.0.0:34567", ca)).render(),
		"userinfo.yaml":               ours(body("https://admin:hunter2@0.0.0.0:34567", ca)).render(),
		"http-scheme.yaml":            ours(body("http://0.0.0.0:34567", ca)).render(),
		"uppercase-scheme.yaml":       ours(body("HTTPS://0.0.0.0:34567", ca)).render(),
		"server-path.yaml":            ours(body("https://0.0.0.0:34567/api/v1/namespaces/kube-system/services/https:prod:443/proxy", ca)).render(),
		"server-query.yaml":           ours(body("https://0.0.0.0:34567?x=1", ca)).render(),
		"leading-zero-port.yaml":      ours(body("https://0.0.0.0:034567", ca)).render(),
		"no-port.yaml":                ours(body("https://0.0.0.0", ca)).render(),
		"proxy-url.yaml":              ours(body(fxServer, ca, "proxy-url: http://proxy.corp.example:3128")).render(),
		"insecure.yaml":               ours(body(fxServer, ca, "insecure-skip-tls-verify: true")).render(),
		"tls-server-name.yaml":        ours(body(fxServer, ca, "tls-server-name: kubernetes.prod.example")).render(),
		"unknown-cluster-field.yaml":  ours(body(fxServer, ca, "Server: https://192.168.1.10:6443")).render(),
		"duplicate-key.yaml":          ours(body(fxServer, ca, "server: https://192.168.1.10:6443")).render(),
		"exec-plugin.yaml": func() string {
			k := ours(body(fxServer, ca))
			k.userBody = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token, --cluster-name, prod]\n"
			return k.render()
		}(),
		"auth-provider.yaml": func() string {
			k := ours(body(fxServer, ca))
			k.userBody = "    auth-provider:\n      name: oidc\n      config:\n        idp-issuer-url: https://sso.example\n"
			return k.render()
		}(),
		"impersonate.yaml": func() string {
			k := ours(body(fxServer, ca))
			k.userBody = "    token: " + fxToken + "\n    as: system:admin\n"
			return k.render()
		}(),
		"user-mismatch.yaml": func() string {
			k := ours(body(fxServer, ca))
			k.user, k.userName = "prod-admin", "prod-admin"
			return k.render()
		}(),
		// The cluster entry keeps the sandbox name but carries production's body.
		"cluster-entry-prod-body.yaml": ours(prod).render(),
		// A context named like the sandbox, with a Cyrillic 'а' in "labsbx".
		"lookalike-context.yaml": kc{ctx: "k3d-l\u0430bsbx-demo", cluster: fxCtx, user: fxUser, clusterBody: body(fxServer, ca)}.render(),
		"missing-cluster.yaml": kc{ctx: fxCtx, cluster: fxCtx, clusterName: "something-else", user: fxUser,
			clusterBody: body(fxServer, ca)}.render(),
		"missing-context.yaml":   kc{ctx: "k3d-labsbx-other", cluster: fxCtx, user: fxUser, clusterBody: body(fxServer, ca)}.render(),
		"wrong-api-version.yaml": strings.Replace(good.render(), "apiVersion: v1", "apiVersion: v2", 1),
		"duplicate-context.yaml": strings.Replace(good.render(), "users:", "- name: "+fxCtx+"\n  context:\n    cluster: prod\n    user: "+fxUser+"\nusers:", 1),
		"empty.yaml":             "",
		"whitespace.yaml":        "\n   \n\t\n",
		"malformed.yaml":         "apiVersion: v1\nclusters:\n- name: k3d-labsbx-demo\n  cluster: {server: https://0.0.0.0:34567\n  token: " + fxToken + "\n",
		"not-a-mapping.yaml":     "- just\n- a list\n",
		// Earlier file: only a cluster entry with the sandbox's name, pointing at the LAN.
		"earlier-shadow-cluster.yaml": "apiVersion: v1\nkind: Config\nclusters:\n- name: " + fxCtx + "\n  cluster:\n" + prod + "contexts: []\nusers: []\n",
		// Later file: the sandbox context again, pointing somewhere else.
		"later-shadow-context.yaml": kc{ctx: fxCtx, cluster: "prod", user: fxUser, clusterBody: prod}.render(),
	}
	// The sandbox context points at another cluster entry, while an entry
	// named like the sandbox's still exists and looks fine.
	files["swapped-cluster.yaml"] = fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
%s- name: %s
  cluster:
%scontexts:
- name: %s
  context:
    cluster: prod
    user: %s
users:
- name: %s
  user:
    token: %s
current-context: %s
`, prod, fxCtx, body(fxServer, ca), fxCtx, fxUser, fxUser, fxToken, fxCtx)
	files["fifty-contexts.yaml"] = fiftyContexts(ca, other)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(fixtureDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d fixtures", len(files))
}

// fiftyContexts is a kubeconfig with 49 foreign contexts and the sandbox's.
func fiftyContexts(ca, other string) string {
	var cl, cx, us strings.Builder
	for i := range 49 {
		n := fmt.Sprintf("team-%02d", i)
		fmt.Fprintf(&cl, "- name: %s\n  cluster:\n%s", n, body(fmt.Sprintf("https://10.0.%d.1:6443", i), other))
		fmt.Fprintf(&cx, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", n, n, n)
		fmt.Fprintf(&us, "- name: %s\n  user:\n    token: %s\n", n, fxToken)
	}
	fmt.Fprintf(&cl, "- name: %s\n  cluster:\n%s", fxCtx, body(fxServer, ca))
	fmt.Fprintf(&cx, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", fxCtx, fxCtx, fxUser)
	fmt.Fprintf(&us, "- name: %s\n  user:\n    token: %s\n", fxUser, fxToken)
	return "apiVersion: v1\nkind: Config\nclusters:\n" + cl.String() + "contexts:\n" + cx.String() + "users:\n" + us.String() + "current-context: team-00\n"
}
