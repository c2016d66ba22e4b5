package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// tofuJob is the step of a Gitea job that provisions an app with OpenTofu, as README and
// examples/gitea-actions run it: `labsbx ci exec <app> -- sh -c 'tofu init && tofu apply
// -auto-approve'` in the app's directory of examples/tofu, with the example's CLI
// configuration (the Vault provider from a filesystem mirror) and the state out of the
// checkout. The script also leaves the job's token in "$0" (a private file of the test's),
// so that the test can look for it in everything tofu printed and wrote.
const tofuJob = `printf %s "$VAULT_TOKEN" >"$0" && export TF_CLI_CONFIG_FILE=../tofurc TF_IN_AUTOMATION=1 &&
tofu init -input=false -no-color -backend-config="path=$1" && tofu apply -input=false -no-color -auto-approve`

// TestE2ETofuCIPath runs examples/tofu with the real OpenTofu CLI and Vault provider
// against a sandbox of two apps: webapp's job applies webapp's module (kvv2/webapp/config)
// and webapp reads the config back as its pods would (exec --as); webapp's job applying
// billing's module is refused by Vault (policy webapp-ops holds no billing path), while
// billing's own job may. No token reaches tofu's output, its state or its working
// directory, and nothing is written under the clone.
func TestE2ETofuCIPath(t *testing.T) {
	tofu := testenv.TofuBinary(t)
	mirror := testenv.TofuMirror(t)
	c := newLocalImagesCLI(t)
	name := sandboxName("tofu")
	t.Cleanup(func() { c.run("down", "--name", name) })
	cfg := writeTemp(t, "labsbx.yaml", "apiVersion: labsbx.dev/v1alpha1\nkind: Sandbox\nspec:\n  profile: vault\n  apps: [webapp, billing]\n")
	var up upResult
	c.json(&up, "up", "--config", cfg, "--name", name)

	// The runner: tofu on PATH, a checkout of the example with its mirror linked in, and
	// state and tokens in dirs of their own.
	bin := t.TempDir()
	if err := os.Symlink(tofu, filepath.Join(bin, "tofu")); err != nil {
		t.Fatal(err)
	}
	c.env["PATH"] = bin + string(os.PathListSeparator) + os.Getenv("PATH")
	example := filepath.Join("..", "examples", "tofu")
	before := treeOf(t, example)
	ws := copyExample(t, example)
	if err := os.Symlink(mirror, filepath.Join(ws, "providers")); err != nil {
		t.Fatal(err)
	}
	stateDir, tokenDir := t.TempDir(), t.TempDir()
	var tokens []string
	job := func(identity, module string) result {
		t.Helper()
		tokenFile := filepath.Join(tokenDir, identity+"-"+module)
		state := filepath.Join(stateDir, module+".tfstate")
		r := c.runIn(filepath.Join(ws, module), "ci", "exec", identity, "--name", name, "--", "sh", "-c", tofuJob, tokenFile, state)
		tok, err := os.ReadFile(tokenFile)
		if err != nil || !strings.HasPrefix(string(tok), "hvs.") {
			t.Fatalf("ci exec %s in %s: the job got no Vault token (exit %d)\n%s%s", identity, module, r.code, r.stdout, r.stderr)
		}
		tokens = append(tokens, string(tok))
		return r
	}

	// webapp's job applies webapp's module.
	r := job("webapp", "webapp")
	if r.code != 0 || !strings.Contains(r.stdout, "Apply complete!") {
		t.Fatalf("tofu apply of webapp as gitea_cicd_webapp: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, `config_path = "kvv2/data/webapp/config"`) {
		t.Errorf("tofu apply of webapp: no config_path output\n%s", r.stdout)
	}
	// The provider was installed from the mirror, not fetched.
	if !strings.Contains(r.stdout, "hashicorp/vault v"+testenv.VaultProviderVersion) {
		t.Errorf("tofu init: the Vault provider %s was not installed\n%s", testenv.VaultProviderVersion, r.stdout)
	}

	// webapp reads it back as its pods would: policy webapp, through exec --as.
	got := readConfigAs(t, c, name, "webapp", "webapp")
	if got["color"] != "blue" || got["log_level"] != "info" || got["app"] != "webapp" || got["database_schema"] != "webapp" {
		t.Errorf("webapp's config as webapp reads it: %v", got)
	}

	// webapp's job applying billing's module: Vault refuses the write.
	r = job("webapp", "billing")
	if r.code == 0 {
		t.Fatalf("tofu apply of billing as gitea_cicd_webapp succeeded\n%s%s", r.stdout, r.stderr)
	}
	if out := r.stdout + r.stderr; !strings.Contains(out, "permission denied") || !strings.Contains(out, "kvv2/data/billing/config") {
		t.Errorf("tofu apply of billing as gitea_cicd_webapp: exit %d, want Vault's permission denied on kvv2/data/billing/config\n%s", r.code, out)
	}
	if got := readConfigAs(t, c, name, "billing", "billing"); got["currency"] != "" || got["app"] != "billing" {
		t.Errorf("billing's config after webapp's refused apply: %v", got)
	}
	// The module is fine and the refusal is the boundary: billing's own job may.
	if r := job("billing", "billing"); r.code != 0 {
		t.Fatalf("tofu apply of billing as gitea_cicd_billing: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := readConfigAs(t, c, name, "billing", "billing"); got["currency"] != "EUR" {
		t.Errorf("billing's config after its own apply: %v", got)
	}

	// No token in what tofu printed or wrote (state, .terraform, lock files).
	hvs := regexp.MustCompile(`hvs\.[A-Za-z0-9_-]{20,}`)
	if hvs.MatchString(c.transcript.String()) {
		t.Errorf("a Vault token in the commands' output")
	}
	for i, tok := range tokens {
		if strings.Contains(c.transcript.String(), tok) {
			t.Errorf("job %d's token in the commands' output", i)
		}
		scanDir(t, ws, fmt.Sprintf("job %d's token", i), tok)
		scanDir(t, stateDir, fmt.Sprintf("job %d's token", i), tok)
	}
	states, _ := filepath.Glob(filepath.Join(stateDir, "*.tfstate"))
	if len(states) != 2 {
		t.Errorf("state files %v, want webapp's and billing's in the state dir", states)
	}
	for _, s := range states {
		if b, _ := os.ReadFile(s); hvs.Match(b) {
			t.Errorf("%s holds a Vault token", s)
		}
	}
	// Nothing under the clone: the example's directory is as it was.
	if after := treeOf(t, example); after != before {
		t.Errorf("the example's directory in the clone changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// readConfigAs reads kvv2/<app>/config's data with exec --as identity, as the app's pods
// would (policy <identity>), with curl.
func readConfigAs(t *testing.T, c *cli, name, identity, app string) map[string]string {
	t.Helper()
	before := c.transcript.Len()
	r := c.run("exec", "--as", identity, "--name", name, "--",
		"sh", "-c", `curl -fsS -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/kvv2/data/`+app+`/config"`)
	// The config is the app's, not a secret of the test's; keep the transcript to commands.
	c.transcript.Truncate(before)
	var resp struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &resp) != nil {
		t.Fatalf("exec --as %s: read kvv2/%s/config: exit %d\n%s", identity, app, r.code, r.stderr)
	}
	return resp.Data.Data
}

// copyExample copies the example's files (what git holds of it: no links, no tofu
// leftovers) into a temp dir, the job's checkout.
func copyExample(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0 || d.Name() == ".terraform" || d.Name() == "providers" && d.IsDir():
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestTofuExampleHoldsNoVaultAddressOrToken: the example's configuration names Vault
// paths only; the address and the token come from the job's environment.
func TestTofuExampleHoldsNoVaultAddressOrToken(t *testing.T) {
	setting := regexp.MustCompile(`(?m)^\s*(address|token|auth_login\w*)\s*[={]`)
	var files int
	err := filepath.WalkDir(filepath.Join("..", "examples", "tofu"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tf") {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if m := setting.Find(b); m != nil {
			t.Errorf("%s sets %q: the provider must take VAULT_ADDR and VAULT_TOKEN from the job", p, strings.TrimSpace(string(m)))
		}
		if regexp.MustCompile(`hvs\.|s\.[A-Za-z0-9]{24}`).Match(b) {
			t.Errorf("%s holds something like a Vault token", p)
		}
		return nil
	})
	if err != nil || files < 3 {
		t.Fatalf("examples/tofu: %d .tf files, %v", files, err)
	}
}
