package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// recorder is a TCP listener on 127.0.0.1 that counts every connection it is offered.
type recorder struct {
	l     net.Listener
	conns atomic.Int64
}

func newRecorder(t *testing.T) *recorder {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.conns.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return r
}

func (r *recorder) port() int { return r.l.Addr().(*net.TCPAddr).Port }

// plantState writes a sandbox state whose recorded Vault address is addr: a state
// tampered with, or copied from another machine.
func plantState(t *testing.T, c *cli, name, addr, clusterID string) {
	t.Helper()
	store, err := state.NewStore(c.home)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(name, config.DefaultSpec(), time.Now())
	st.Profile, st.Spec.Profile, st.Phase = config.ProfileVault, config.ProfileVault, state.PhaseReady
	st.Vault = &state.VaultState{Addr: addr, ClusterID: clusterID}
	st.Faults = []state.Fault{{Scenario: "seal", Kind: "seal", InjectedAt: time.Now()}}
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// withName puts --name before a "--" (what follows it is another command's).
func withName(args []string, name string) []string {
	i := slices.Index(args, "--")
	if i < 0 {
		i = len(args)
	}
	return slices.Concat(args[:i], []string{"--name", name}, args[i:])
}

// TestE2EGuardRefusesWithoutConnecting runs every command that changes anything (and
// every one that reads a secret) against targets that merely resolve or map to a
// loopback listener, and requires exit 3 with zero connections to that listener.
func TestE2EGuardRefusesWithoutConnecting(t *testing.T) {
	c := newCLI(t)
	rec := newRecorder(t)
	p := rec.port()
	hostile := map[string]string{
		"mapped":    fmt.Sprintf("http://[::ffff:127.0.0.1]:%d", p),
		"dotted":    fmt.Sprintf("http://localhost.:%d", p),
		"hostname":  fmt.Sprintf("http://localhost.localdomain:%d", p),
		"userinfo":  fmt.Sprintf("http://user@127.0.0.1:%d", p),
		"decimal":   fmt.Sprintf("http://2130706433:%d", p),
		"preinit":   fmt.Sprintf("http://[::ffff:127.0.0.1]:%d", p),
		"trailing/": fmt.Sprintf("http://127.0.0.1:%d/v1/", p),
	}
	commands := [][]string{
		{"up", "--profile", "vault"},
		{"vault", "init"},
		{"vault", "unseal"},
		{"vault", "seal"},
		{"vault", "bootstrap"},
		{"vault", "status"},
		{"env"},
		{"ci", "token", "webapp"},
		{"ci", "login", "webapp"},
		{"ci", "exec", "webapp", "--", "true"},
		{"env", "--as", "webapp"},
		{"exec", "--as", "webapp", "--", "true"},
		{"exec", "--", "true"},
		{"drill", "run", "seal"},
		{"drill", "recover"},
	}
	for label, addr := range hostile {
		name := strings.NewReplacer("/", "").Replace("h-" + label)
		clusterID := "4b9c2f40-0000-0000-0000-000000000000"
		if label == "preinit" {
			clusterID = ""
		}
		plantState(t, c, name, addr, clusterID)
		for _, args := range commands {
			r := c.run(withName(args, name)...)
			if r.code != 3 || !refusedLine(r.stderr) {
				t.Errorf("%s: labsbx %s: exit %d, stderr %q; want exit 3 and 'refused: …'", label, strings.Join(args, " "), r.code, r.stderr)
			}
		}
		r := c.run("guard", "check", "--name", name, "--vault-addr", addr)
		if r.code != 3 {
			t.Errorf("guard check --vault-addr %s: exit %d", addr, r.code)
		}
	}
	// A remote-looking Docker engine is refused before any connection, by up and down.
	c.env["DOCKER_HOST"] = fmt.Sprintf("tcp://[::ffff:127.0.0.1]:%d", p)
	for _, args := range [][]string{{"down"}, {"up", "--profile", "vault", "--name", "fresh"}} {
		if r := c.run(args...); r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("DOCKER_HOST %s: labsbx %v: exit %d, %q", c.env["DOCKER_HOST"], args, r.code, r.stderr)
		}
	}
	// Give a stray dial time to land before counting.
	time.Sleep(200 * time.Millisecond)
	if n := rec.conns.Load(); n != 0 {
		t.Fatalf("refused targets received %d connection(s)", n)
	}
}

func TestE2EGuardCheckKeyPaths(t *testing.T) {
	c := newCLI(t)
	plantState(t, c, "keys", "http://127.0.0.1:1", "x")
	for _, p := range []string{"/root/.arcodange/cluster-keys.json", c.home + "/keys/secrets/cluster-keys.json", c.home + "/keys/../keys/secrets/k", "relative/key"} {
		if r := c.run("guard", "check", "--name", "keys", "--key-path", p); r.code != 3 {
			t.Errorf("key path %s: exit %d, want 3", p, r.code)
		}
	}
	r := c.run("guard", "check", "--name", "keys", "--key-path", c.home+"/keys/secrets/vault-keys.json", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"approved": true`) {
		t.Errorf("the sandbox's own key path: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// refusedLine reports whether stderr has the guard's "refused: <reason>" line (step
// lines may come before it).
func refusedLine(stderr string) bool {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "refused: ") {
			return true
		}
	}
	return false
}
