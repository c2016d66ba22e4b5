package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// secretColumn is a value in the Vault CLI's table that is a secret.
var secretColumn = regexp.MustCompile(`(?m)^(\s*(?:password|token|client_token)\s+)\S+`)

// quickStart is the README's quick-start block: the fenced lines after the
// <!-- quick-start --> marker, without their comments.
func quickStart(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- quick-start -->\n```sh\n")
	if !ok {
		t.Fatal("README.md has no <!-- quick-start --> block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the quick-start block is not closed")
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestE2EReadmeQuickStart runs the README's quick start as written, in the repository,
// against a sandbox of a state root of its own: the README cannot drift from the tool.
func TestE2EReadmeQuickStart(t *testing.T) {
	testenv.RequireImage(t, testenv.VaultImage)
	testenv.RequireImage(t, testenv.PostgresImage)
	lines := quickStart(t)
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "go tool task up") || !strings.HasPrefix(lines[len(lines)-1], "go tool task down") {
		t.Fatalf("the quick start should start with go tool task up and end with go tool task down: %q", lines)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	env := newCLI(t).environ() // a state root of its own, and a hostile VAULT_*/KUBECONFIG
	reports := filepath.Join(root, "reports")
	if _, err := os.Stat(reports); err == nil {
		t.Fatalf("%s exists: the quick start writes there, and this test will not overwrite a directory it did not make", reports)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(reports)
		down := exec.Command(filepath.Join(root, "bin", "labsbx"), "down")
		down.Env, down.Dir = env, root
		_ = down.Run()
	})
	for _, l := range lines {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", l)
		cmd.Dir, cmd.Env = root, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		// The Vault CLI prints a credential's password and a login's token on purpose; the
		// test log keeps them out.
		logged := secretColumn.ReplaceAllString(out.String(), "${1}[redacted]")
		t.Logf("$ %s\n%s", l, logged)
		if err != nil {
			t.Fatalf("README quick start: %q failed: %v\n%s", l, err, logged)
		}
	}
	for _, f := range []string{"report.json", "junit.xml", "report.md"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Errorf("the quick start's drills wrote no %s: %v", f, err)
		}
	}
}
