package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FuzzGuardKubeconfig: nothing panics, and nothing is approved unless the
// context, its cluster entry, the server and the CA fingerprint are exactly
// the record's, as kubectl itself (clientcmd) reads the same bytes.
func FuzzGuardKubeconfig(f *testing.F) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			b, err := os.ReadFile(filepath.Join(fixtureDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, false)
			f.Add(b, true)
		}
	}
	rec := fixtureRecord(f)
	dir, err := filepath.Abs(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	good, err := loadKubeFile(filepath.Join(fixtureDir, "good.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, withGood bool) {
		// The fuzzed file sits in fixtures/guard so that relative CA paths
		// can reach ca.crt; it is never written there.
		fuzzPath := filepath.Join(dir, "fuzz.yaml")
		loader := func(p string) (*kubeFile, error) {
			if p == "good" {
				return good, nil
			}
			return parseKubeconfig(p, dir, data)
		}
		paths := []string{fuzzPath}
		if withGood {
			paths = append(paths, "good")
		}
		a, rep, err := approveKube(rec, paths, fxCtx, loader)
		if (err == nil) != rep.Approved || (err == nil) != (a.st != nil) {
			t.Fatalf("inconsistent decision: %v %+v", err, rep)
		}
		if err != nil {
			return
		}
		// Approved: kubectl must read the same bytes the same way.
		cfg, lerr := clientcmd.Load(data)
		if lerr != nil {
			t.Fatalf("approved a kubeconfig kubectl cannot load: %v", lerr)
		}
		cx := cfg.Contexts[fxCtx]
		if cx == nil {
			if !withGood {
				t.Fatalf("approved a context kubectl does not see")
			}
			return // the context came from good.yaml; the fuzzed file did not define it
		}
		if cx.Cluster != rec.Kube.Cluster || cx.AuthInfo != rec.Kube.User {
			t.Fatalf("approved context %+v", cx)
		}
		cl := cfg.Clusters[cx.Cluster]
		if cl == nil {
			if withGood {
				return
			}
			t.Fatalf("approved a missing cluster")
		}
		if strings.TrimSuffix(cl.Server, "/") != rec.Kube.Server || a.Server() != rec.Kube.Server {
			t.Fatalf("approved server %q (approval %q)", cl.Server, a.Server())
		}
		if cl.ProxyURL != "" || cl.InsecureSkipTLSVerify || cl.TLSServerName != "" {
			t.Fatalf("approved TLS overrides: %+v", cl)
		}
		ca := cl.CertificateAuthorityData
		if len(ca) == 0 {
			p := cl.CertificateAuthority
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			if ca, err = os.ReadFile(p); err != nil {
				t.Fatalf("approved an unreadable CA: %v", err)
			}
		}
		blk, rest := pem.Decode(ca)
		if blk == nil || strings.TrimSpace(string(rest)) != "" {
			t.Fatalf("approved CA data that is not exactly one PEM block")
		}
		sum := sha256.Sum256(blk.Bytes)
		if hex.EncodeToString(sum[:]) != rec.Kube.CAFingerprint {
			t.Fatalf("approved CA fingerprint %x", sum)
		}
		if u := cfg.AuthInfos[cx.AuthInfo]; u != nil && (u.Exec != nil || u.AuthProvider != nil || u.Impersonate != "") {
			t.Fatalf("approved a user with a plugin or impersonation: %+v", u)
		}
		if _, err := a.RESTConfig(); err != nil {
			t.Fatalf("RESTConfig: %v", err)
		}
		var _ *clientcmdapi.Config = cfg
	})
}

// FuzzGuardVaultAddr: no panic; only the recorded address (trailing slash
// aside) is approved, and every address that passes the loopback parse has a
// host an independent parser agrees is a loopback literal.
func FuzzGuardVaultAddr(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8200", "http://127.0.0.1:8200/", "http://localhost:8200", "http://[::1]:8200",
		"http://0.0.0.0:8200", "https://127.0.0.1:8200", "http://192.168.1.20:8200", "http://127.1:8200",
		"http://[::ffff:127.0.0.1]:8200", "http://a:b@127.0.0.1:8200", "http://127.0.0.1:8200/v1",
		"http://127.0.0.1.nip.io:8200", "http://2130706433:8200", "http://l\u043ecalhost:8200",
	} {
		f.Add(s)
	}
	rec := vaultRecord("http://127.0.0.1:8200", "c0ffee")
	f.Fuzz(func(t *testing.T, addr string) {
		_, rep, err := approveVaultCheck(context.Background(), rec, addr, CheckOptions{Offline: true})
		if (err == nil) != rep.Approved {
			t.Fatalf("inconsistent decision")
		}
		if err == nil && strings.TrimSuffix(addr, "/") != "http://127.0.0.1:8200" {
			t.Fatalf("approved %q", addr)
		}
		e, perr := parseEndpoint(addr, "http", "https")
		if perr != nil {
			return
		}
		u, uerr := url.Parse(addr)
		if uerr != nil || u.User != nil || strings.ContainsAny(addr, "@#? \t\r\n") {
			t.Fatalf("parsed %q (url error %v)", addr, uerr)
		}
		h := u.Hostname()
		switch h {
		case "localhost", "0.0.0.0", "::1":
		default:
			ip := net.ParseIP(h)
			if ip == nil || ip.To4() == nil || ip[len(ip)-4] != 127 || ip.String() != h || strings.Contains(h, ":") {
				t.Fatalf("accepted host %q of %q as loopback", h, addr)
			}
		}
		if e.host != h {
			t.Fatalf("host %q vs %q", e.host, h)
		}
	})
}

// FuzzGuardKeyPath: no panic; an approved path is absolute, has no "..",
// is not cluster-keys.json, and resolves inside the state dir and outside
// ~/.arcodange.
func FuzzGuardKeyPath(f *testing.F) {
	e := newKeyEnv(f)
	for _, s := range []string{
		"vault-keys.json", "vault/unseal.json", "inner-link.json", "link-to-arcodange/x", "escape/x",
		"file-link.json", "ok.json", "../outside/x", "Cluster-Keys.json", "./x", "dangling.json", "adir",
	} {
		f.Add(filepath.Join(e.state, s))
		f.Add(s)
	}
	f.Add(filepath.Join(e.home, ".arcodange", "cluster-keys.json"))
	rec := Record{Name: "demo", UUID: fxUUID, StateDir: e.state}
	arc := filepath.Join(e.home, ".arcodange")
	f.Fuzz(func(t *testing.T, path string) {
		kr, rep, err := approveKeyPath(rec, path, []string{e.home})
		if (err == nil) != rep.Approved {
			t.Fatalf("inconsistent decision")
		}
		if err != nil {
			return
		}
		if !filepath.IsAbs(path) || hasDotDot(path) || strings.EqualFold(filepath.Base(path), keyFileName) {
			t.Fatalf("approved %q", path)
		}
		if !within(kr.resolved, e.state) || withinFold(kr.resolved, arc) || withinFold(path, arc) {
			t.Fatalf("approved %q resolving to %q", path, kr.resolved)
		}
	})
}
