package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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

// TestE2EReadmeQuickStart runs the README's quick start as written, in a copy of the
// repository (what git tracks, and what it would add), against a sandbox of a state root
// of its own: the README cannot drift from the tool. The copy keeps the clone as the
// person left it: a quick start they ran themselves has left reports/ there, which are
// theirs, and which this test neither needs gone nor touches.
func TestE2EReadmeQuickStart(t *testing.T) {
	testenv.RequireImage(t, testenv.VaultImage)
	testenv.RequireImage(t, testenv.PostgresImage)
	lines := quickStart(t)
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "go tool task up") || !strings.HasPrefix(lines[len(lines)-1], "go tool task down") {
		t.Fatalf("the quick start should start with go tool task up and end with go tool task down: %q", lines)
	}
	clone, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	before := treeOf(t, filepath.Join(clone, "reports"))
	root := copyClone(t, clone)
	env := newCLI(t).environ() // a state root of its own, and a hostile VAULT_*/KUBECONFIG
	reports := filepath.Join(root, "reports")
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(root, "bin", "labsbx"), "down")
		down.Env, down.Dir = env, root
		_ = down.Run()
		if after := treeOf(t, filepath.Join(clone, "reports")); after != before {
			t.Errorf("the clone's own reports/ changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
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

// copyClone copies the repository at clone into a temporary directory: the files git
// tracks or would add, as they are in the working tree (without git: every file but
// the ignored bin/, reports/, .cache/ and .task/).
func copyClone(t *testing.T, clone string) string {
	t.Helper()
	dst := t.TempDir()
	var files []string
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = clone
	if out, err := ls.Output(); err == nil {
		for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
			files = append(files, filepath.FromSlash(f))
		}
	} else {
		skip := map[string]bool{".git": true, "bin": true, "reports": true, ".cache": true, ".task": true}
		err := filepath.WalkDir(clone, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(clone, p)
			if d.IsDir() && skip[rel] {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		src := filepath.Join(clone, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// treeOf lists the files under dir with their sizes and times ("" when dir does not
// exist), to tell whether anything there changed.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(&b, "%s unreadable: %v\n", p, err) // part of what is compared
			}
			return nil //nolint:nilerr // the walk goes on past what it cannot read
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			fmt.Fprintf(&b, "%s %d %s\n", p, fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		}
		return nil
	})
	return b.String()
}

// The quick start runs in a copy that has the clone's files but not the reports a
// person's own quick start left there, which stay as they were.
func TestQuickStartCopyLeavesThePersonsReports(t *testing.T) {
	clone := t.TempDir()
	for f, body := range map[string]string{"README.md": "readme", "cmd/x/main.go": "package main", "reports/report.json": "{}", "bin/labsbx": "binary"} {
		if err := os.MkdirAll(filepath.Join(clone, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clone, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := treeOf(t, filepath.Join(clone, "reports"))
	cp := copyClone(t, clone)
	for f, want := range map[string]bool{"README.md": true, "cmd/x/main.go": true, "reports/report.json": false, "bin/labsbx": false} {
		if _, err := os.Stat(filepath.Join(cp, f)); (err == nil) != want {
			t.Errorf("%s in the copy: %v, want %v", f, err == nil, want)
		}
	}
	if before == "" || treeOf(t, filepath.Join(clone, "reports")) != before {
		t.Error("the clone's reports/ changed")
	}
}
