// Package testenv starts the real components that integration tests run against:
// a Vault server, a Postgres server and a Kubernetes API server (etcd plus
// kube-apiserver, envtest-style). Nothing here is a fake. The binaries and images
// come from the offline toolchain, e2e/toolchain/toolchain.sh, which caches them
// by version under CacheDir.
//
// Integration tests are named TestIntegration…. When a prerequisite is missing,
// the helpers skip the test with one line saying what to run, except under CI
// (CI=true), where a missing prerequisite fails the test: in CI every tier runs.
//
// Every helper registers its cleanup with t.Cleanup before it checks for errors,
// so a failed start leaves no process or container behind.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcodange/labsbx/internal/netx"
)

// Versions and images the toolchain builds. e2e/toolchain/toolchain.sh pins the
// same values; TestToolchainVersions checks that they agree.
const (
	VaultVersion = "1.21.0"
	KubeVersion  = "1.34.2"
	EtcdVersion  = "3.6.16"
	VaultImage   = "labsbx.local/vault:" + VaultVersion
	// VaultToVersion is the newer Vault the vault-upgrade drill's end-to-end test
	// upgrades to from VaultVersion (toolchain.sh vault-to).
	VaultToVersion = "1.21.1"
	VaultToImage   = "labsbx.local/vault:" + VaultToVersion
	PostgresImage  = "labsbx.local/postgres:15"
)

// Hints printed when a prerequisite is missing.
const (
	HintToolchain = "go tool task toolchain"
	HintImages    = "go tool task images"
)

// CacheDir is the toolchain cache root:
// $LABSBX_CACHE_DIR, else $XDG_CACHE_HOME/labsbx, else ~/.cache/labsbx.
func CacheDir() string {
	if d := os.Getenv("LABSBX_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "labsbx")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "labsbx")
}

// BinDir is where the toolchain puts its binaries, named <tool>-<version>.
func BinDir() string { return filepath.Join(CacheDir(), "toolchain", "bin") }

// Require stops the test because the prerequisite what is missing: under CI
// (CI=true) it fails the test, elsewhere it skips it. The message is one line
// that ends with the command to run (hint). It never returns.
func Require(t testing.TB, what, hint string) {
	t.Helper()
	msg := fmt.Sprintf("missing %s: run `%s`", what, hint)
	if InCI() {
		t.Fatalf("%s (CI=true: integration prerequisites must be present)", msg)
	}
	t.Skip(msg)
}

// InCI reports whether CI is set to a true value (true, 1, TRUE, …).
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// VaultBinary returns the path of the cached Vault server binary, or stops the
// test through Require when it has not been built.
func VaultBinary(t testing.TB) string {
	t.Helper()
	return toolBinary(t, "vault", VaultVersion)
}

func toolBinary(t testing.TB, name, version string) string {
	t.Helper()
	p := filepath.Join(BinDir(), name+"-"+version)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		Require(t, fmt.Sprintf("%s %s binary (%s)", name, version, p), HintToolchain)
	}
	return p
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := netx.FreePorts(n)
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	return ports
}

// process is a child process whose output goes to a log file; its cleanup kills
// it and, when the test failed, prints the end of the log.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set when done is closed
}

// startProcess starts bin with args and a scrubbed environment (env only): the
// user's VAULT_*, KUBECONFIG and proxies never reach the child. The returned
// process is already registered for cleanup.
func startProcess(t testing.TB, name, dir, bin string, args, env []string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testenv: %s log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=/usr/bin:/bin"}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so a Ctrl-C on `go test` is delivered by us, not by the terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("testenv: last lines of %s log:\n%s", name, p.tail(40))
		}
	})
	return p
}

// stop sends SIGTERM, then SIGKILL after a grace period, and waits for exit.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has exited, with its exit error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitFor polls ready every interval until it returns nil, the process exits,
// or timeout passes; then it fails the test with the last error and log lines.
func (p *process) waitFor(t testing.TB, timeout time.Duration, ready func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if done, err := p.exited(); done {
			t.Fatalf("testenv: %s exited before it was ready (%v); last log lines:\n%s", p.name, err, p.tail(40))
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: %s not ready after %s: %v; last log lines:\n%s", p.name, timeout, last, p.tail(40))
		case <-time.After(100 * time.Millisecond):
		case <-p.done:
		}
	}
}

// errStatus is returned by readiness probes for an unexpected HTTP status.
type errStatus struct {
	code int
	body string
}

func (e errStatus) Error() string {
	return "HTTP " + strconv.Itoa(e.code) + ": " + strings.TrimSpace(e.body)
}
