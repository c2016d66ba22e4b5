package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeServer is a real Kubernetes control plane without nodes: etcd plus
// kube-apiserver, both child processes of the test, on loopback ports. It has
// RBAC authorization, ServiceAccount tokens (TokenRequest and TokenReview work)
// and an admin bearer token in group system:masters. No controller manager
// runs: nothing creates the "default" ServiceAccount, nothing finalises a
// namespace deletion, and pods never start.
type KubeServer struct {
	// Host is the API server URL, https://127.0.0.1:<port>.
	Host string
	// CAPEM is the PEM of the CA that signed the serving certificate.
	CAPEM []byte
	// Config is an admin client config (system:masters).
	Config *rest.Config
	// Issuer is the ServiceAccount token issuer (--service-account-issuer),
	// also the API audience that TokenRequest uses by default.
	Issuer string
	// EtcdURL is the client URL of the etcd behind the API server.
	EtcdURL string
}

// kubeIssuer is the in-cluster issuer that k3s and kubeadm also use.
const kubeIssuer = "https://kubernetes.default.svc.cluster.local"

// KubeAPIServer starts the cached etcd and kube-apiserver and waits until
// /readyz answers ok. Both are stopped when the test ends.
func KubeAPIServer(t testing.TB) *KubeServer {
	t.Helper()
	etcdBin := toolBinary(t, "etcd", EtcdVersion)
	apiBin := toolBinary(t, "kube-apiserver", KubeVersion)
	dir := t.TempDir()
	start := time.Now()

	// etcd, on two loopback ports.
	ports := freePorts(t, 3)
	clientPort, peerPort, port := ports[0], ports[1], ports[2]
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd := startProcess(t, "etcd", dir, etcdBin, []string{
		"--name=default",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=default=" + peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}, nil)
	plain := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	etcd.waitFor(t, 30*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, plain, etcdURL+"/health", "")
	})
	etcdReady := time.Since(start)

	// Certificates and keys, written for kube-apiserver.
	pki := newKubePKI(t, dir)
	token := randomHex(t, 32)
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+",labsbx-admin,labsbx-admin,system:masters\n"), 0o600); err != nil {
		t.Fatalf("testenv: token file: %v", err)
	}

	host := "https://127.0.0.1:" + strconv.Itoa(port)
	api := startProcess(t, "kube-apiserver", dir, apiBin, []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + dir,
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + kubeIssuer,
		"--service-account-key-file=" + pki.saPub,
		"--service-account-signing-key-file=" + pki.saKey,
		"--service-cluster-ip-range=10.43.0.0/16",
		"--endpoint-reconciler-type=none",
		// The ServiceAccount admission plugin wants a "default" ServiceAccount that
		// only the controller manager creates; without it no pod could be created.
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=0",
	}, nil)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	tlsClient := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	api.waitFor(t, 2*time.Minute, func(ctx context.Context) error {
		return httpOK(ctx, tlsClient, host+"/readyz", token)
	})
	t.Logf("testenv: kube-apiserver %s (etcd %s) at %s ready in %s (etcd %s)",
		KubeVersion, EtcdVersion, host, time.Since(start).Round(time.Millisecond), etcdReady.Round(time.Millisecond))

	return &KubeServer{
		Host:  host,
		CAPEM: pki.caPEM,
		Config: &rest.Config{
			Host:            host,
			BearerToken:     token,
			TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM},
			QPS:             100,
			Burst:           200,
		},
		Issuer:  kubeIssuer,
		EtcdURL: etcdURL,
	}
}

// Kubeconfig returns a kubeconfig for the admin credential whose cluster, user
// and context are all called name, with name as the current context.
func (s *KubeServer) Kubeconfig(name string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = s.Host
	cluster.CertificateAuthorityData = s.CAPEM
	user := clientcmdapi.NewAuthInfo()
	user.Token = s.Config.BearerToken
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo = name, name
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = user
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	return cfg
}

// WriteKubeconfig writes Kubeconfig(name) to path, mode 0600.
func (s *KubeServer) WriteKubeconfig(path, name string) error {
	b, err := clientcmd.Write(*s.Kubeconfig(name))
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// httpOK GETs url (with a bearer token when set) and wants a 200.
func httpOK(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode != http.StatusOK {
		return errStatus{resp.StatusCode, string(body)}
	}
	return nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// kubePKI holds the files kube-apiserver needs: a CA and a serving certificate
// for 127.0.0.1/localhost (ECDSA P-256, fast to generate), and the RSA key pair
// that signs ServiceAccount tokens.
type kubePKI struct {
	caPEM                   []byte
	servingCert, servingKey string
	saKey, saPub            string
}

func newKubePKI(t testing.TB, dir string) *kubePKI {
	t.Helper()
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testenv: %s: %v", what, err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail("CA key", err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "labsbx-testenv-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	fail("CA certificate", err)
	caCert, err := x509.ParseCertificate(caDER)
	fail("CA certificate", err)

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail("serving key", err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	fail("serving certificate", err)
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	fail("serving key", err)

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	fail("ServiceAccount key", err)
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	fail("ServiceAccount key", err)

	p := &kubePKI{
		caPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey:  filepath.Join(dir, "apiserver.key"),
		saKey:       filepath.Join(dir, "sa.key"),
		saPub:       filepath.Join(dir, "sa.pub"),
	}
	write := func(path string, blocks ...*pem.Block) {
		t.Helper()
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		fail("write "+filepath.Base(path), os.WriteFile(path, b, 0o600))
	}
	write(p.servingCert, &pem.Block{Type: "CERTIFICATE", Bytes: srvDER}, &pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	write(p.servingKey, &pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER})
	write(p.saKey, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})
	write(p.saPub, &pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})
	return p
}
