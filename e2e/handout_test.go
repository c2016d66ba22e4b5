package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// The adversarial tier for what labsbx hands out: the clients it runs with a secret
// (vault --, psql, exec, ci exec) may not be pointed elsewhere by their arguments, and
// what env and exec give out is proven like labsbx's own connections. A kubeconfig that
// points a credential file at production's key dir is refused without opening it, and
// a key dir is known by identity: a bind mount of it is one.

// TestE2EClientsGoOnlyToTheSandbox: every argument that names another server is
// refused with exit 3 before anything runs, and nothing reaches the listener it names.
func TestE2EClientsGoOnlyToTheSandbox(t *testing.T) {
	c := newLocalImagesCLI(t)
	name := sandboxName("clients")
	t.Cleanup(func() { c.run("down", "--name", name) })
	c.ok("up", "--profile", "vault", "--name", name)
	rec := newRecorder(t)
	p := rec.port()
	hostile := [][]string{
		{"vault", "--", "status", fmt.Sprintf("-address=http://127.0.0.1:%d", p)},
		{"vault", "--", "kv", "get", "--address", fmt.Sprintf("http://127.0.0.1:%d", p), "kvv2/webapp/config"},
		{"psql", "--", "-h", "172.17.0.1", "-p", fmt.Sprint(p)},
		{"psql", "--", "-qh172.17.0.1"},
		{"psql", "--", "--port=" + fmt.Sprint(p)},
		{"psql", "--", fmt.Sprintf("host=172.17.0.1 port=%d dbname=postgres", p)},
		{"psql", "--", fmt.Sprintf("postgresql://172.17.0.1:%d/postgres", p)},
		{"psql", "--", "-c", fmt.Sprintf(`\connect host=172.17.0.1 port=%d`, p)},
		{"psql", "--as", "webapp", "--", "-h", "172.17.0.1"},
		{"exec", "--", "psql", "-h", "127.0.0.1", "-p", fmt.Sprint(p), "-c", "select 1"},
		{"exec", "--", "vault", "status", fmt.Sprintf("-address=http://127.0.0.1:%d", p)},
		{"exec", "--", "sh", "-c", fmt.Sprintf("PGPORT=%d psql -c 'select 1'", p)},
		{"exec", "--", "sh", "-c", fmt.Sprintf("curl -s -H \"X-Vault-Token: $VAULT_TOKEN\" http://127.0.0.1:%d/", p)},
		{"exec", "--as", "webapp", "--", "psql", fmt.Sprintf("postgres://127.0.0.1:%d/postgres", p)},
		{"ci", "exec", "webapp", "--", "vault", "kv", "get", fmt.Sprintf("-address=http://127.0.0.1:%d", p), "kvv2/webapp/config"},
	}
	for _, args := range hostile {
		r := c.runQuick(t, withName(args, name)...)
		if r.code != 3 || !refusedLine(r.stderr) {
			t.Errorf("labsbx %s: exit %d, stderr %q; want exit 3 and 'refused: …'", strings.Join(args, " "), r.code, r.stderr)
		}
	}

	// A tampered postgresPort: env prints nothing, exec runs nothing.
	st := loadState(t, c, name)
	real := st.Docker.PostgresPort
	st.Docker.PostgresPort = p
	saveState(t, c, st)
	for _, args := range [][]string{{"env"}, {"env", "--as", "webapp"}, {"exec", "--", "true"}, {"exec", "--as", "webapp", "--", "true"}, {"psql", "--", "-c", "select 1"}} {
		r := c.runQuick(t, withName(args, name)...)
		if r.code != 3 || !refusedLine(r.stderr) || strings.Contains(r.stdout, "PGPASSWORD") {
			t.Errorf("labsbx %s with a tampered postgresPort: exit %d, stdout %q, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	st.Docker.PostgresPort = real
	saveState(t, c, st)
	time.Sleep(200 * time.Millisecond)
	if n := rec.conns.Load(); n != 0 {
		t.Errorf("the listener named by the arguments or the state got %d connection(s)", n)
	}
	// The sandbox's own endpoints still work, through the same commands.
	c.ok("psql", "--name", name, "--", "-c", "select 1")
	c.ok("vault", "--name", name, "--", "status")
	if r := c.run("env", "--name", name); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("PGPORT=\"%d\"", real)) {
		t.Errorf("env after the state was restored: exit %d\n%s", r.code, r.stderr)
	}
}

// plantKubeState writes a full-profile state whose cluster is recorded as the guard
// fixtures' (fixtures/guard: context k3d-labsbx-demo, server https://0.0.0.0:34567, CA
// ca.crt), so that guard check judges a kubeconfig offline.
func plantKubeState(t *testing.T, c *cli) {
	t.Helper()
	b, err := os.ReadFile("../fixtures/guard/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	sum := sha256.Sum256(blk.Bytes)
	store, err := state.NewStore(c.home)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New("demo", config.DefaultSpec(), time.Now())
	st.Phase = state.PhaseReady
	st.Kube = &state.KubeState{Kubeconfig: filepath.Join(c.home, "demo", "kubeconfig"), Context: "k3d-labsbx-demo", Cluster: "k3d-labsbx-demo",
		User: "admin@k3d-labsbx-demo", Server: "https://0.0.0.0:34567", CAFingerprint: hex.EncodeToString(sum[:]), MarkerWritten: true}
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// kubeconfigWith is the fixtures' good kubeconfig with its user's credentials replaced.
func kubeconfigWith(t *testing.T, dir, user string) string {
	t.Helper()
	b, err := os.ReadFile("../fixtures/guard/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "token: fixture-secret-token-3b9d", user, 1)
	p := filepath.Join(dir, "kubeconfig-"+fmt.Sprint(time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestE2EGuardKeyFilesByIdentity: a kubeconfig user whose token file, client
// certificate or key is in ~/.arcodange (directly, through a symlink, a hard link or a
// bind mount) is refused at key-files, before the credentials step opens anything;
// and the write guard knows a bind mount of ~/.arcodange.
func TestE2EGuardKeyFilesByIdentity(t *testing.T) {
	c := newCLI(t)
	home := t.TempDir()
	c.env["HOME"] = home
	arc := filepath.Join(home, ".arcodange")
	if err := os.MkdirAll(arc, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"token", "client.crt", "client.key"} {
		if err := os.WriteFile(filepath.Join(arc, f), []byte("production secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plantKubeState(t, c)
	scratch := t.TempDir()
	hard := filepath.Join(scratch, "token")
	if err := os.Link(filepath.Join(arc, "token"), hard); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(arc, filepath.Join(scratch, "keys")); err != nil {
		t.Fatal(err)
	}
	judge := func(label, kc string, wrap ...string) {
		t.Helper()
		args := []string{"guard", "check", "--name", "demo", "--kubeconfig", kc, "--context", "k3d-labsbx-demo", "-o", "json"}
		var r result
		if wrap == nil {
			r = c.runQuick(t, args...)
		} else {
			r = c.wrapped(t, wrap, args...)
		}
		if r.code != 3 {
			t.Errorf("%s: exit %d, want 3\n%s%s", label, r.code, r.stdout, r.stderr)
			return
		}
		var rep struct {
			Checks []struct {
				Name string `json:"name"`
				OK   bool   `json:"ok"`
			} `json:"checks"`
		}
		_ = json.Unmarshal([]byte(r.stdout), &rep)
		if n := len(rep.Checks); n == 0 || rep.Checks[n-1].Name != "key-files" || rep.Checks[n-1].OK {
			t.Errorf("%s: not refused at key-files, before the files are opened:\n%s", label, r.stdout)
		}
	}
	judge("tokenFile in ~/.arcodange", kubeconfigWith(t, scratch, "tokenFile: "+filepath.Join(arc, "token")))
	judge("client certificate and key in ~/.arcodange", kubeconfigWith(t, scratch, "client-certificate: "+filepath.Join(arc, "client.crt")+"\n    client-key: "+filepath.Join(arc, "client.key")))
	judge("tokenFile through a symlink", kubeconfigWith(t, scratch, "tokenFile: "+filepath.Join(scratch, "keys", "token")))
	judge("tokenFile, a hard link", kubeconfigWith(t, scratch, "tokenFile: "+hard))

	// A bind mount of ~/.arcodange, in a mount namespace of the command's own.
	mnt := filepath.Join(scratch, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unshare", "-rm", "sh", "-c", `mount --bind "$0" "$1"`, arc, mnt).CombinedOutput(); err != nil {
		t.Skipf("no mount namespace for a bind mount here (unshare -rm): %v %s", err, out)
	}
	bind := []string{"unshare", "-rm", "sh", "-c", `mount --bind "$0" "$1" && shift && exec "$@"`, arc, mnt}
	judge("tokenFile in a bind mount of ~/.arcodange", kubeconfigWith(t, scratch, "tokenFile: "+filepath.Join(mnt, "token")), bind...)
	plantState(t, c, "writes", "http://127.0.0.1:1", "x")
	r := c.wrapped(t, bind, "drill", "run", "seal", "--name", "writes", "--report-dir", filepath.Join(mnt, "reports"))
	if r.code != 3 || !strings.Contains(r.stderr, ".arcodange") {
		t.Errorf("a report dir in a bind mount of ~/.arcodange: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(arc, "reports")); err == nil {
		t.Error("a report dir was written into ~/.arcodange")
	}
}

// wrapped runs labsbx under prefix (a command that ends by exec'ing its arguments).
func (c *cli) wrapped(t *testing.T, prefix []string, args ...string) result {
	t.Helper()
	full := append(append(append([]string{}, prefix[1:]...), c.binary()), args...)
	cmd := exec.Command(prefix[0], full...)
	cmd.Env = c.environ()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", prefix, err)
	}
	return r
}
