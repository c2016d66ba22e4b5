package fence

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// serve answers every connection to l with word.
func serve(t *testing.T, l net.Listener, word string) {
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, word)
			_ = c.Close()
		}
	}()
}

func listen(t *testing.T, addr, word string) int {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l, word)
	return l.Addr().(*net.TCPAddr).Port
}

// approved is a fence of a sandbox whose state dir is a temp dir, letting ports through.
func approved(t *testing.T, ports ...guard.FencePort) *Fence {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, guard.HomeDir)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := guard.Record{Name: "fence", UUID: "0f1c2a3b-0000-4000-8000-000000000001", StateDir: dir}
	a, _, err := guard.ApproveFence(rec, guard.FenceRequest{Ports: ports, Home: home, CallerHome: os.Getenv("HOME")})
	if err != nil {
		t.Fatal(err)
	}
	return &Fence{Approval: a, Warn: &bytes.Buffer{}}
}

// Where no fence can be built, the command runs as it is, with the sandbox's HOME,
// and labsbx says so once.
func TestNoFenceWarnsOnce(t *testing.T) {
	probeOnce, warned = sync.Once{}, sync.Once{}
	probeOnce.Do(func() { probeOK, probeWhy = false, "user namespaces refused (test)" })
	t.Cleanup(func() { probeOnce, warned = sync.Once{}, sync.Once{} })
	f := approved(t, guard.FencePort{Name: "p", Port: 1})
	var warn bytes.Buffer
	f.Warn = &warn
	for range 2 {
		cmd := exec.Command("true")
		path, args := cmd.Path, strings.Join(cmd.Args, " ")
		cmd.Env = []string{"HOME=/caller"}
		r, err := f.Wrap(t.Context(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Path != path || strings.Join(cmd.Args, " ") != args || cmd.SysProcAttr != nil || cmd.ExtraFiles != nil {
			t.Errorf("the command was changed: %s %q", cmd.Path, cmd.Args)
		}
		if got := strings.Join(cmd.Env, " "); got != "HOME="+f.Approval.Home()+" DOCKER_CONFIG="+filepath.Join(f.Approval.Home(), ".docker") {
			t.Errorf("env %q", got)
		}
		if err := r.Finish(cmd.Run()); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(warn.String(), "warning: no network fence here (user namespaces refused (test))"); n != 1 {
		t.Errorf("warned %d times: %q", n, warn.String())
	}
}
