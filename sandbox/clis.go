package sandbox

import (
	"context"
	"fmt"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
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
	return rt.Exec(ctx, component, cmd, env, sio)
}
