package e2e

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// encodedDrill is a drill whose recovery prints the sandbox's secrets encoded, as a
// careless runbook does, then unseals with labsbx: hex, base64 (alone and inside a
// longer value) and URL-encoded forms of the database password, and the unseal key's
// bytes in hex.
const encodedDrill = `apiVersion: labsbx.dev/v1alpha1
kind: Drill
metadata:
  name: encoded-secrets
  description: a runbook that prints secrets encoded
spec:
  steady:
    - vault: unsealed
  fault:
    builtin: seal
  symptom:
    - vault: sealed
  recovery:
    run: |
      printf '%s' "$PGPASSWORD" | base64
      printf '%s' "$PGPASSWORD" | od -An -tx1 | tr -d ' \n'; echo
      printf 'password=%s\n' "$PGPASSWORD" | base64
      printf '%s' "$PGPASSWORD" | jq -sRr @uri
      key=$(jq -r '.unseal_keys_b64[0]' "$LABSBX_UNSEAL_KEY_FILE")
      printf '%s' "$key" | base64 -d | od -An -tx1 | tr -d ' \n'; echo
      "$LABSBX" vault unseal --name "$LABSBX_NAME" >/dev/null
    timeout: 1m
  verify:
    - vault: unsealed
      timeout: 30s
`

// TestE2ERedactsEncodedSecretsAndIgnoresPGEnv: up and a drill with a hostile PG*
// environment (PGTARGETSESSIONATTRS=read-only failed every one of labsbx's own
// connections, PGSERVICE names no file), and a runbook that prints secrets encoded:
// no report and no -o json output holds any of those forms.
func TestE2ERedactsEncodedSecretsAndIgnoresPGEnv(t *testing.T) {
	c := newLocalImagesCLI(t)
	for k, v := range map[string]string{
		"PGTARGETSESSIONATTRS": "read-only",
		"PGOPTIONS":            "-c default_transaction_read_only=on",
		"PGSERVICE":            "production",
		"PGSSLMODE":            "verify-full",
		"PGHOST":               "192.0.2.10",
		"PGPORT":               "6543",
		"PGCONNECT_TIMEOUT":    "1",
	} {
		c.env[k] = v
	}
	name := sandboxName("redact")
	t.Cleanup(func() { c.run("down", "--name", name) })
	start := time.Now()
	c.ok("up", "--profile", "vault", "--name", name)
	if d := time.Since(start); d > 80*time.Second {
		t.Errorf("up with a hostile PG* environment took %s", d)
	}
	c.ok("drill", "run", "lost-lease", "--name", name) // labsbx's own Postgres connections

	secrets := readSecrets(t, c, name)
	pw := secrets["PGPASSWORD"]
	b, err := os.ReadFile(filepath.Join(c.home, name, "secrets", "vault-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keys struct {
		UnsealKeysB64 []string `json:"unseal_keys_b64"`
	}
	if err := json.Unmarshal(b, &keys); err != nil || len(keys.UnsealKeysB64) == 0 || pw == "" {
		t.Fatalf("the sandbox's secrets: %v", err)
	}
	key, err := base64.StdEncoding.DecodeString(keys.UnsealKeysB64[0])
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"password base64":        base64.StdEncoding.EncodeToString([]byte(pw)),
		"password hex":           hex.EncodeToString([]byte(pw)),
		"password=… base64":      strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("password="+pw+"\n")), "="),
		"password URL-encoded":   url.QueryEscape(pw),
		"unseal key hex":         hex.EncodeToString(key),
		"unseal key base64":      keys.UnsealKeysB64[0],
		"password as it is":      pw,
		"unseal key base64url":   base64.RawURLEncoding.EncodeToString(key),
		"password base64 no pad": base64.RawStdEncoding.EncodeToString([]byte(pw)),
	}
	dir := filepath.Join(t.TempDir(), "drill")
	drill := filepath.Join(dir, "encoded.yaml")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(drill, []byte(encodedDrill), 0o600); err != nil {
		t.Fatal(err)
	}
	reports := filepath.Join(t.TempDir(), "reports")
	r := c.ok("drill", "run", "-f", drill, "--name", name, "--report-dir", reports, "-o", "json")
	texts := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	for _, f := range []string{"report.json", "junit.xml", "report.md"} {
		b, err := os.ReadFile(filepath.Join(reports, f))
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	if !strings.Contains(texts["report.json"], "[redacted]") {
		t.Errorf("the runbook's output was not reported, or nothing was redacted:\n%s", texts["report.json"])
	}
	for where, text := range texts {
		for label, f := range forms {
			if len(f) >= 8 && strings.Contains(text, f) {
				t.Errorf("%s holds the %s", where, label)
			}
		}
	}
}
