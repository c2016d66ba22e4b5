package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/fence"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// The clients labsbx runs inside the sandbox's own containers, so that nothing needs
// installing to use it: the Vault CLI in the Vault container, psql in the Postgres one.
// The secret they get (the root token, a password) goes in the exec's environment, to
// a container the guard has proven to be the sandbox's, on its recorded engine.

// VaultCLI runs `vault <Args>` inside the sandbox's Vault container with the sandbox's
// address and root token (`labsbx vault -- <args>`); its output and exit status pass
// through.
type VaultCLI struct {
	cfg  *Configuration
	Name string
	Args []string
	IO   docker.ExecIO
}

// NewVaultCLI prepares it.
func NewVaultCLI(cfg *Configuration) *VaultCLI { return &VaultCLI{cfg: cfg} }

// Run runs it and returns the CLI's exit status.
func (o *VaultCLI) Run(ctx context.Context) (int, error) {
	if err := guard.CheckVaultArgs(o.Args); err != nil {
		return -1, err
	}
	conn, sess, err := o.cfg.openClientConn(ctx, o.Name)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	return o.cfg.execProven(ctx, conn, connect.ComponentVault, append([]string{"vault"}, o.Args...),
		[]string{"VAULT_ADDR=http://127.0.0.1:8200", "VAULT_TOKEN=" + sess.Keys.RootToken}, o.IO)
}

// PSQL runs `psql <Args>` inside the sandbox's Postgres container (`labsbx psql`): as
// the superuser, or with As as a fresh dynamic user of that app from
// postgres/creds/<app>, read with the app's runtime token.
type PSQL struct {
	cfg  *Configuration
	Name string
	As   string
	Args []string
	IO   docker.ExecIO
}

// NewPSQL prepares it.
func NewPSQL(cfg *Configuration) *PSQL { return &PSQL{cfg: cfg} }

// Run runs psql and returns its exit status.
func (o *PSQL) Run(ctx context.Context) (int, error) {
	if err := guard.CheckPSQLArgs(o.Args); err != nil {
		return -1, err
	}
	conn, sess, err := o.cfg.openClientConn(ctx, o.Name)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	st := conn.State()
	var user, pass string
	if o.As == "" {
		sec, err := st.PostgresSecrets()
		if err != nil {
			return -1, err
		}
		user, pass = "postgres", sec.SuperuserPassword
	} else {
		if err := requireApp(sess, o.As); err != nil {
			return -1, err
		}
		tok, err := vault.AppToken(ctx, sess.Root(), o.As)
		if err != nil {
			return -1, err
		}
		c, err := sess.NewClient(tok)
		if err != nil {
			return -1, err
		}
		creds, err := vault.AppCredentials(ctx, c, o.As)
		if err != nil {
			return -1, err
		}
		user, pass = creds.User, creds.Password
		o.cfg.progress().Infof("Connecting as %s, a dynamic user of app %s (lease %s)", creds.User, o.As, creds.Lease)
	}
	env := []string{"PGHOST=127.0.0.1", "PGPORT=5432", "PGDATABASE=postgres", "PGUSER=" + user, "PGPASSWORD=" + pass}
	return o.cfg.execProven(ctx, conn, connect.ComponentPostgres, append([]string{"psql"}, o.Args...), env, o.IO)
}

// openClientConn opens the sandbox's Vault for a client inside a container; the full
// profile's components are pods, which these commands do not reach.
func (c *Configuration) openClientConn(ctx context.Context, name string) (*connect.Conn, *connect.VaultSession, error) {
	st, err := c.Store.Load(name)
	if err != nil {
		return nil, nil, err
	}
	if st.Profile == config.ProfileFull {
		return nil, nil, fmt.Errorf("sandbox %q runs the full profile, whose Vault and Postgres are pods: use `eval \"$(labsbx env --name %s)\"` with a local vault or psql, or kubectl exec with `labsbx kubeconfig path`", name, name)
	}
	conn := connect.New(st, c.Getenv)
	sess, err := conn.Vault(ctx)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, sess, nil
}

// execProven runs cmd in a component's container once the guard has proven, on the
// recorded engine, that it is the sandbox's recorded, labelled container: env carries a
// secret.
func (c *Configuration) execProven(ctx context.Context, conn *connect.Conn, component string, cmd, env []string, sio docker.ExecIO) (int, error) {
	proof, err := conn.Receiver(component)
	if err != nil {
		return -1, err
	}
	if _, err := proof.Prove(ctx); err != nil {
		return -1, err
	}
	rt, err := conn.Docker(ctx)
	if err != nil {
		return -1, err
	}
	if runtime.GOOS != "linux" {
		// Docker Desktop's engine runs in a VM, where a socket of this host cannot be
		// mounted: the client runs in the sandbox's own container, on Docker's network.
		c.warnCLIUnfenced.Do(func() {
			c.progress().Infof("warning: on %s, %s runs in the sandbox's container without a network fence (README, \"The fence\")", runtime.GOOS, cmd[0])
		})
		return rt.Exec(ctx, component, cmd, env, sio)
	}
	return c.execFenced(ctx, conn, rt, component, cmd, env, sio)
}

// fenceMount is where a fenced client's container finds the sockets labsbx serves.
const fenceMount = "/labsbx-fence"

// execFenced runs the client of `labsbx vault --` or `labsbx psql` in a container of
// the component's image with no network (docker.StartIsolated): its only way out is a
// unix socket in a directory of the state dir, mounted there, which labsbx forwards
// to the component's port after the guard's proof (fence.ServeUnix). Its VAULT_ADDR
// (unix://) or PGHOST (the directory) point there; a \connect, a \! shell or
// -address elsewhere finds no route.
func (c *Configuration) execFenced(ctx context.Context, conn *connect.Conn, rt *docker.Runtime, component string, cmd, env []string, sio docker.ExecIO) (int, error) {
	f, err := FenceOf(conn, c.Getenv)
	if err != nil {
		return -1, err
	}
	var port guard.FencePort
	for _, p := range f.Approval.Ports() {
		if p.Name == component {
			port = p
		}
	}
	if port.Port == 0 {
		return -1, fmt.Errorf("sandbox %q records no %s port", conn.State().Name, component)
	}
	// A unix socket's path holds at most 107 bytes: a deep state dir uses TMPDIR.
	parent := conn.State().Dir()
	if len(parent) > 70 {
		parent = ""
	}
	dir, err := os.MkdirTemp(parent, "labsbx-cli-")
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(dir)
	var sock string
	switch component {
	case connect.ComponentVault:
		sock = "vault.sock"
		env = replaceEnv(env, "VAULT_ADDR", "unix://"+fenceMount+"/"+sock)
	case connect.ComponentPostgres:
		sock = ".s.PGSQL.5432"
		env = replaceEnv(replaceEnv(env, "PGHOST", fenceMount), "PGPORT", "5432")
	}
	log := sio.Stderr
	if log == nil {
		log = io.Discard
	}
	fwd, err := fence.ServeUnix(ctx, f.Approval, port, filepath.Join(dir, sock), log)
	if err != nil {
		return -1, err
	}
	defer fwd.Close()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return -1, err
	}
	name := component + "-cli-" + hex.EncodeToString(b[:])
	remove, err := rt.StartIsolated(ctx, component, name, dir, fenceMount)
	if err != nil {
		return -1, err
	}
	defer remove()
	return rt.Exec(ctx, name, cmd, env, sio)
}

// replaceEnv sets name=value in env, in place of any earlier value.
func replaceEnv(env []string, name, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}
