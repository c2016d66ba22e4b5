package guard

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// forbidden lists, per import path, the functions that build a client (or
// read the environment) without the guard. Only sandbox/guard may use them;
// e2e/ (black-box tests and their test environment) is exempt.
var forbidden = map[string][]string{
	"github.com/hashicorp/vault/api":   {"NewClient", "DefaultConfig"},
	"github.com/docker/docker/client":  {"NewClientWithOpts", "NewEnvClient", "NewClient", "FromEnv"},
	"k8s.io/client-go/kubernetes":      {"NewForConfig", "NewForConfigOrDie", "NewForConfigAndClient"},
	"k8s.io/client-go/tools/clientcmd": {"BuildConfigFromFlags", "NewNonInteractiveDeferredLoadingClientConfig", "NewDefaultClientConfigLoadingRules"},
}

// envReaders are the os functions whose first argument is checked.
var envReaders = map[string]bool{"Getenv": true, "LookupEnv": true}

// forbiddenEnv reports whether reading the variable name bypasses the guard.
func forbiddenEnv(name string) bool { return strings.HasPrefix(name, "VAULT_") || name == "KUBECONFIG" }

// TestBoundary walks the repository's non-test Go files and fails on every
// client built, or environment read, outside the guard.
func TestBoundary(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel == "e2e" || rel == "sandbox/guard" || name == "vendor" || name == "testdata" ||
				(strings.HasPrefix(name, ".") && rel != ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		v, err := scanSource(rel, src)
		if err != nil {
			return err
		}
		found = append(found, v...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	if len(found) > 0 {
		t.Errorf("build clients and read VAULT_*/KUBECONFIG only through sandbox/guard approvals:\n\t%s", strings.Join(found, "\n\t"))
	}
}

// scanSource returns "file:line: what" for every forbidden use in one file.
// It resolves import aliases, so `vaultapi.NewClient` is found too.
func scanSource(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), what))
	}
	local := map[string]string{} // local name -> import path, for forbidden imports and os
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if _, ok := forbidden[p]; !ok && p != "os" && p != "github.com/hashicorp/vault/api" {
			continue
		}
		n := path.Base(p)
		if imp.Name != nil {
			n = imp.Name.Name
		}
		if n == "." {
			report(imp, "dot import of "+p)
			continue
		}
		local[n] = p
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			p, ok := local[id.Name]
			if !ok {
				return true
			}
			for _, fn := range forbidden[p] {
				if n.Sel.Name == fn {
					report(n, id.Name+"."+fn)
				}
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || len(n.Args) == 0 {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || local[id.Name] != "os" || !envReaders[sel.Sel.Name] {
				return true
			}
			switch a := n.Args[0].(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(a.Value); err == nil && forbiddenEnv(s) {
					report(n, fmt.Sprintf("os.%s(%q)", sel.Sel.Name, s))
				}
			case *ast.SelectorExpr: // api.EnvVaultToken and friends
				if id, ok := a.X.(*ast.Ident); ok && local[id.Name] == "github.com/hashicorp/vault/api" && strings.HasPrefix(a.Sel.Name, "EnvVault") {
					report(n, fmt.Sprintf("os.%s(%s.%s)", sel.Sel.Name, id.Name, a.Sel.Name))
				}
			}
		}
		return true
	})
	return out, nil
}

// The scanner itself finds what it must, through aliases, and nothing else.
func TestBoundaryScanner(t *testing.T) {
	src := `package x

import (
	vaultapi "github.com/hashicorp/vault/api"
	dockerclient "github.com/docker/docker/client"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	goos "os"
)

// api.NewClient( in a comment is fine.
func f() {
	_, _ = vaultapi.NewClient(vaultapi.DefaultConfig())
	_, _ = dockerclient.NewClientWithOpts(dockerclient.FromEnv)
	_, _ = kubernetes.NewForConfig(nil)
	_, _ = clientcmd.BuildConfigFromFlags("", "")
	_ = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(nil, nil)
	_ = goos.Getenv("VAULT_ADDR")
	_ = goos.Getenv("KUBECONFIG")
	_, _ = goos.LookupEnv(vaultapi.EnvVaultToken)
	_ = goos.Getenv("HOME")
	mk := kubernetes.NewForConfigOrDie
	_ = mk
	s := "api.NewClient("
	_ = s
}
`
	got, err := scanSource("x.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"vaultapi.NewClient", "vaultapi.DefaultConfig", "dockerclient.NewClientWithOpts", "dockerclient.FromEnv",
		"kubernetes.NewForConfig", "clientcmd.BuildConfigFromFlags", "clientcmd.NewNonInteractiveDeferredLoadingClientConfig",
		`os.Getenv("VAULT_ADDR")`, `os.Getenv("KUBECONFIG")`, "os.LookupEnv(vaultapi.EnvVaultToken)", "kubernetes.NewForConfigOrDie",
	}
	if len(got) != len(want) {
		t.Fatalf("found %d:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, w := range want {
		hit := false
		for _, g := range got {
			hit = hit || strings.HasSuffix(g, ": "+w)
		}
		if !hit {
			t.Errorf("missing %s in\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// TestGroundFloorImportsNoGuard: the ground floor (internal/*) serves every package
// above it, the guard included, and imports none of them; what a child process may
// inherit is the guard's to say (ScrubbedEnv), and its callers pass it down.
func TestGroundFloorImportsNoGuard(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "internal"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if ip, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(ip, "github.com/arcodange/labsbx/") && !strings.HasPrefix(ip, "github.com/arcodange/labsbx/internal/") {
				t.Errorf("%s imports %s: the ground floor imports nothing above it", p, ip)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
