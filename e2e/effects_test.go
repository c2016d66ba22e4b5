package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/state"
)

// The adversarial tier for what labsbx deletes and sends, beside the one for
// connections (guard_test.go) and writes (writes_test.go): another state root's down,
// impostors on the recorded ports, another engine, and an up killed at every step.

func loadState(t *testing.T, c *cli, name string) *state.State {
	t.Helper()
	store, err := state.NewStore(c.home)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func saveState(t *testing.T, c *cli, st *state.State) {
	t.Helper()
	store, err := state.NewStore(c.home)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// dockerObjects lists the containers, volumes and networks of sandbox name.
func dockerObjects(t *testing.T, name string) []string {
	t.Helper()
	f := "label=dev.labsbx.sandbox=" + name
	var out []string
	for kind, args := range map[string][]string{
		"container": {"ps", "-a", "--filter", f, "--format", "{{.Names}}"},
		"volume":    {"volume", "ls", "-q", "--filter", f},
		"network":   {"network", "ls", "--filter", f, "--format", "{{.Name}}"},
	} {
		for _, l := range strings.Fields(docker(t, args...)) {
			out = append(out, kind+" "+l)
		}
	}
	sort.Strings(out)
	return out
}

// impostor listens on a recorded port and records everything it is offered.
type impostor struct {
	l       net.Listener
	conns   atomic.Int64
	mu      sync.Mutex
	secrets []string
}

// newImpostor listens on 127.0.0.1:port. vaultClusterID != "" makes it answer like
// the sandbox's Vault (sys/health with the recorded, public cluster_id).
func newImpostor(t *testing.T, port int, vaultClusterID string) *impostor {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("impostor on port %d: %v", port, err)
	}
	im := &impostor{l: l}
	t.Cleanup(func() { _ = l.Close() })
	if vaultClusterID == "" {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				im.conns.Add(1)
				go func() {
					b, _ := io.ReadAll(io.LimitReader(c, 1<<16))
					im.mu.Lock()
					im.secrets = append(im.secrets, string(b))
					im.mu.Unlock()
				}()
			}
		}()
		return im
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		im.mu.Lock()
		if tok := r.Header.Get("X-Vault-Token"); tok != "" {
			im.secrets = append(im.secrets, tok)
		}
		if r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			if len(b) > 0 {
				im.secrets = append(im.secrets, string(b))
			}
		}
		im.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"initialized":true,"sealed":false,"standby":false,"cluster_id":%q,"cluster_name":"vault-cluster","version":"1.21.0"}`, vaultClusterID)
	}), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			im.conns.Add(1)
		}
	}}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return im
}

func (im *impostor) check(t *testing.T, label string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // let a stray dial land before counting
	im.mu.Lock()
	defer im.mu.Unlock()
	if n := im.conns.Load(); n != 0 || len(im.secrets) != 0 {
		t.Errorf("%s: the impostor got %d connection(s) and %d request(s) with a token or body", label, n, len(im.secrets))
	}
}

// TestE2EGuardOwnsDeletesAndSends: a down from another state root deletes nothing of
// this sandbox's; no token or password goes to an impostor on a recorded port, nor to
// another engine.
func TestE2EGuardOwnsDeletesAndSends(t *testing.T) {
	a := newLocalImagesCLI(t)
	name := sandboxName("owned")
	t.Cleanup(func() { a.run("down", "--name", name) })
	a.ok("up", "--profile", "vault", "--name", name)
	st := loadState(t, a, name)
	objects := dockerObjects(t, name)
	if len(objects) != 5 {
		t.Fatalf("after up, objects of %s: %v", name, objects)
	}

	// Deletes. A plain down from another state root (another LABSBX_HOME) finds
	// objects of the same name with a UUID it does not record: it lists them, names
	// the root that owns them and the command to run there, and removes nothing.
	b := newLocalImagesCLI(t)
	r := b.ok("down", "--name", name)
	if !strings.Contains(r.stderr, "Left alone") || !strings.Contains(r.stderr, "LABSBX_HOME="+a.home+" labsbx down --name "+name) || strings.Contains(r.stderr, "--uuid") {
		t.Errorf("down from another root: stderr %q", r.stderr)
	}
	if got := dockerObjects(t, name); strings.Join(got, ",") != strings.Join(objects, ",") {
		t.Errorf("down from another root removed objects: %v -> %v", objects, got)
	}
	// That root's own same-named sandbox cannot take them over either.
	if r := b.run("up", "--profile", "vault", "--name", name); r.code == 0 || !strings.Contains(r.stderr, "belongs to another sandbox") {
		t.Errorf("up of a same-named sandbox in another root: exit %d, %q", r.code, r.stderr)
	}
	b.ok("down", "--name", name) // removes b's own state, nothing of a's
	if got := dockerObjects(t, name); strings.Join(got, ",") != strings.Join(objects, ",") {
		t.Errorf("the other root's down removed objects: %v -> %v", objects, got)
	}
	var status struct {
		Sandboxes []struct{ Name, Phase string } `json:"sandboxes"`
	}
	a.json(&status, "status")
	if len(status.Sandboxes) != 1 || status.Sandboxes[0].Phase != "ready" {
		t.Errorf("the sandbox after the other root's down: %+v", status)
	}
	a.ok("drill", "run", "seal", "--name", name)

	// Sends. The Vault container stopped, an impostor on its port quoting the
	// recorded (public) cluster_id gets nothing: no connection even.
	vaultPort := 0
	if _, err := fmt.Sscanf(st.Vault.Addr, "http://127.0.0.1:%d", &vaultPort); err != nil {
		t.Fatalf("the recorded Vault address %q: %v", st.Vault.Addr, err)
	}
	docker(t, "stop", "-t", "5", "labsbx-"+name+"-vault")
	im := newImpostor(t, vaultPort, st.Vault.ClusterID)
	for _, args := range [][]string{{"vault", "seal"}, {"vault", "unseal"}, {"vault", "status"}, {"vault", "bootstrap"}, {"drill", "run", "seal", "--timeout", "5s"}, {"ci", "token", "webapp"}} {
		r := a.runQuick(t, append(args, "--name", name)...)
		if r.code == 0 {
			t.Errorf("labsbx %s with an impostor Vault: exit 0\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	im.check(t, "impostor Vault")
	_ = im.l.Close()
	a.ok("up", "--name", name) // starts the Vault container again and unseals it

	// A tampered postgresPort: the superuser password never reaches what listens there.
	pgIm := newImpostor(t, freePort(t), "")
	tampered := loadState(t, a, name)
	realPort := tampered.Docker.PostgresPort
	tampered.Docker.PostgresPort = pgIm.l.Addr().(*net.TCPAddr).Port
	saveState(t, a, tampered)
	for _, args := range [][]string{{"drill", "run", "broken-rotation/grant"}, {"drill", "run", "lost-lease"}} {
		if r := a.runQuick(t, append(args, "--name", name)...); r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("labsbx %s with a tampered postgresPort: exit %d, %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	pgIm.check(t, "impostor Postgres")
	tampered.Docker.PostgresPort = realPort

	// Another engine behind the same socket: its ID is not the recorded one.
	realEngine := tampered.EngineID
	if realEngine == "" {
		t.Fatal("up recorded no engine ID")
	}
	tampered.EngineID = "0000:OTHER:ENGINE"
	saveState(t, a, tampered)
	for _, args := range [][]string{{"vault", "status"}, {"drill", "run", "seal"}, {"down"}, {"up"}} {
		if r := a.runQuick(t, append(args, "--name", name)...); r.code != 3 || !strings.Contains(r.stderr, "not the one sandbox") {
			t.Errorf("labsbx %s on another engine: exit %d, %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	tampered.EngineID = realEngine
	saveState(t, a, tampered)
	if got := dockerObjects(t, name); strings.Join(got, ",") != strings.Join(objects, ",") {
		t.Errorf("objects changed: %v -> %v", objects, got)
	}
	a.ok("drill", "run", "seal", "lost-lease", "--name", name)

	// Without state, down removes only what carries no UUID; --uuid removes only a
	// lost state's objects: these have an owner that labsbx knows, so it refuses.
	lost := newLocalImagesCLI(t)
	if r = lost.run("down", "--name", name, "--uuid", st.UUID); r.code != 3 || !strings.Contains(r.stderr, "LABSBX_HOME="+a.home) {
		t.Errorf("down --uuid of a sandbox whose state exists: exit %d, %q", r.code, r.stderr)
	}
	if got := dockerObjects(t, name); strings.Join(got, ",") != strings.Join(objects, ",") {
		t.Errorf("down --uuid removed a live sandbox's objects: %v -> %v", objects, got)
	}
	a.ok("down", "--name", name)
	if got := dockerObjects(t, name); len(got) != 0 {
		t.Errorf("down left %v", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// failpointBinary builds labsbx with the failpoints compiled in (-tags failpoint).
func failpointBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "labsbx-failpoint")
	out, err := exec.Command("go", "build", "-tags", "failpoint", "-o", bin, "../cmd/labsbx").CombinedOutput()
	if err != nil {
		t.Fatalf("build labsbx with failpoints: %v\n%s", err, out)
	}
	return bin
}

// TestE2EUpConvergesAfterAnyInterruption kills `up` (SIGKILL and SIGINT) as each
// progress line appears, and inside Vault's init (after init, after the key is saved,
// after the unseal), then runs up again and a drill: both must succeed.
func TestE2EUpConvergesAfterAnyInterruption(t *testing.T) {
	c := newLocalImagesCLI(t)
	c.bin = failpointBinary(t)
	name := sandboxName("kill")
	t.Cleanup(func() { c.run("down", "--name", name) })
	var plan struct {
		Steps []string `json:"steps"`
	}
	c.json(&plan, "up", "--profile", "vault", "--name", name, "--dry-run")
	if len(plan.Steps) < 6 {
		t.Fatalf("plan steps: %v", plan.Steps)
	}
	converge := func(label string) {
		t.Helper()
		if r := c.run("up", "--profile", "vault", "--name", name); r.code != 0 {
			t.Fatalf("%s: the next up: exit %d\n%s", label, r.code, r.stderr)
		}
		if r := c.run("drill", "run", "seal", "--name", name); r.code != 0 {
			t.Fatalf("%s: drill after the next up: exit %d\n%s%s", label, r.code, r.stdout, r.stderr)
		}
		c.ok("down", "--name", name)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		for _, step := range plan.Steps {
			label := fmt.Sprintf("%v after %q", sig, step)
			cmd := c.command("up", "--profile", "vault", "--name", name)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var seen strings.Builder
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				seen.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "✓ "+step) {
					_ = cmd.Process.Signal(sig)
					break
				}
			}
			rest, _ := io.ReadAll(stderr)
			seen.Write(rest)
			err = cmd.Wait()
			if sig == syscall.SIGINT && err != nil && !strings.Contains(seen.String(), "run the same command again to resume") {
				t.Errorf("%s: an interrupted up says %q", label, seen.String())
			}
			converge(label)
		}
	}
	for _, fp := range []string{"vault-initialised", "vault-keys-saved", "vault-unsealed"} {
		for _, how := range []string{"", ":int"} {
			label := "failpoint " + fp + how
			c.env["LABSBX_FAILPOINT"] = fp + how
			r := c.run("up", "--profile", "vault", "--name", name)
			delete(c.env, "LABSBX_FAILPOINT")
			if r.code == 0 {
				t.Fatalf("%s: up was not stopped at the failpoint", label)
			}
			converge(label)
		}
	}
}

// TestE2EHintsWork breaks a sandbox in the ways a careless user or a crash does, and
// follows the next step each error names: it must work.
func TestE2EHintsWork(t *testing.T) {
	c := newLocalImagesCLI(t)
	name := sandboxName("hints")
	t.Cleanup(func() { c.run("down", "--name", name) })
	secrets := filepath.Join(c.home, name, "secrets")
	follow := func(label, hint string, r result, steps ...[]string) {
		t.Helper()
		if r.code == 0 || !strings.Contains(r.stderr, hint) {
			t.Fatalf("%s: exit %d, stderr %q; want the hint %q", label, r.code, r.stderr, hint)
		}
		for _, s := range steps {
			c.ok(append(s, "--name", name)...)
		}
		c.ok("drill", "run", "seal", "--name", name)
	}
	up := []string{"up", "--profile", "vault"}
	c.ok(append(up, "--name", name)...)

	// A lost unseal key: restore it, or start afresh.
	if err := os.Remove(filepath.Join(secrets, "vault-keys.json")); err != nil {
		t.Fatal(err)
	}
	follow("lost unseal key", "`labsbx down --name "+name+"` then `labsbx up --name "+name+"`",
		c.run("vault", "status", "--name", name), []string{"down"}, up)

	// Lost database passwords: env does not mint new ones.
	if err := os.Remove(filepath.Join(secrets, "postgres.json")); err != nil {
		t.Fatal(err)
	}
	r := c.run("env", "--name", name)
	if _, err := os.Stat(filepath.Join(secrets, "postgres.json")); err == nil {
		t.Error("env wrote new database passwords")
	}
	follow("lost database passwords", "`labsbx down --name "+name+"` then `labsbx up --name "+name+"`", r, []string{"down"}, up)

	// An interrupted down: up says to finish it.
	st := loadState(t, c, name)
	st.Phase = state.PhaseDeleting
	saveState(t, c, st)
	follow("interrupted down", "run `labsbx down --name "+name+"` to finish it", c.run(append(up, "--name", name)...), []string{"down"}, up)

	// A corrupt state: down removes nothing it cannot prove, and says how to finish.
	st = loadState(t, c, name)
	if err := os.WriteFile(filepath.Join(c.home, name, "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.run("vault", "status", "--name", name)
	if r.code == 0 || !strings.Contains(r.stderr, "run `labsbx down --name "+name+"`") {
		t.Fatalf("corrupt state: exit %d, %q", r.code, r.stderr)
	}
	r = c.run("down", "--name", name)
	follow("down over a corrupt state", "labsbx down --name "+name+" --uuid", r, []string{"down", "--uuid", st.UUID}, up)
	if got := dockerObjects(t, name); len(got) != 5 {
		t.Errorf("after following the hints: %v", got)
	}
}
