package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// VaultServer is a real Vault server running as a child process of the test,
// with file storage in a temp dir and a plain-HTTP listener on loopback. It is
// uninitialised when returned.
type VaultServer struct {
	// Addr is the API address, http://127.0.0.1:<port>.
	Addr string
	// DataDir holds the file storage backend.
	DataDir string
	// ConfigFile is the server's HCL configuration.
	ConfigFile string

	pid, port int
}

// Vault starts the cached Vault binary and waits until /v1/sys/health answers
// (uninitialised is fine). The server is stopped when the test ends.
func Vault(t testing.TB) *VaultServer {
	t.Helper()
	bin := VaultBinary(t)
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	addr := "http://127.0.0.1:" + strconv.Itoa(port)
	s := &VaultServer{
		Addr:       addr,
		DataDir:    filepath.Join(dir, "data"),
		ConfigFile: filepath.Join(dir, "vault.hcl"),
	}
	cfg := fmt.Sprintf(`storage "file" {
  path = %q
}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
disable_mlock = true
api_addr      = %q
ui            = false
log_level     = "info"
`, s.DataDir, port, addr)
	if err := os.WriteFile(s.ConfigFile, []byte(cfg), 0o600); err != nil {
		t.Fatalf("testenv: vault config: %v", err)
	}
	start := time.Now()
	p := startProcess(t, "vault", dir, bin, []string{"server", "-config=" + s.ConfigFile}, nil)
	s.pid, s.port = p.cmd.Process.Pid, port
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	p.waitFor(t, 60*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/sys/health", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		switch resp.StatusCode {
		case 200, 429, 472, 473, 501, 503: // active, standby, DR, perf standby, uninitialised, sealed
			return nil
		}
		return errStatus{resp.StatusCode, string(body)}
	})
	t.Logf("testenv: vault %s at %s ready in %s", VaultVersion, addr, time.Since(start).Round(time.Millisecond))
	return s
}

// NewVaultClient returns a Vault API client for addr that ignores the user's
// environment (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_HEADERS, TLS and
// proxy variables), with token set explicitly ("" for none).
func NewVaultClient(t testing.TB, addr, token string) *api.Client {
	t.Helper()
	cfg := &api.Config{
		Address:    addr,
		HttpClient: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("testenv: vault client: %v", err)
	}
	// api.NewClient picks these up from the environment; undo it.
	c.SetToken(token)
	c.ClearNamespace()
	c.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	return c
}

// VaultInitUnseal initialises the Vault at addr with one key share (threshold
// 1), unseals it, and returns the root token. The unseal key is not kept.
func VaultInitUnseal(t testing.TB, addr string) (rootToken string) {
	t.Helper()
	c := NewVaultClient(t, addr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("testenv: vault init: %v", err)
	}
	if len(resp.KeysB64) != 1 || resp.RootToken == "" {
		t.Fatalf("testenv: vault init returned %d keys and root token set=%t", len(resp.KeysB64), resp.RootToken != "")
	}
	st, err := c.Sys().UnsealWithContext(ctx, resp.KeysB64[0])
	if err != nil {
		t.Fatalf("testenv: vault unseal: %v", err)
	}
	if st.Sealed {
		t.Fatalf("testenv: vault still sealed after unseal (progress %d/%d)", st.Progress, st.T)
	}
	// The node is unsealed; wait until it has become active and serves requests.
	c.SetToken(resp.RootToken)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Auth().Token().LookupSelfWithContext(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: vault not serving after unseal: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return resp.RootToken
}
