package sandbox

import (
	"context"
	"net"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// What labsbx hands out (`env` prints it, `exec` and `ci exec` give it to a command)
// carries the same proof as its own connections: the endpoint beside a token or a
// password is the one Docker shows the sandbox's own container publishing, on the
// engine the sandbox was created on. A tampered state (another postgresPort) is
// refused, not printed.

// proveHandout proves every endpoint in vars before they leave labsbx
// (guard.ApproveHandout): VAULT_ADDR must be the approved session's address, and
// PGHOST:PGPORT the port the sandbox's Postgres publishes on 127.0.0.1.
func proveHandout(ctx context.Context, conn *connect.Conn, vaultAddr string, vars []EnvVar) error {
	h := guard.Handout{ApprovedVault: vaultAddr}
	for _, v := range vars {
		switch v.Name {
		case "VAULT_ADDR":
			h.VaultAddr = v.Value
		case "PGHOST":
			h.PGHost = v.Value
		case "PGPORT":
			h.PGPort = v.Value
		}
	}
	if h.PGHost != "" || h.PGPort != "" {
		proof, err := conn.Receiver(connect.ComponentPostgres)
		if err != nil {
			return err
		}
		h.Postgres = proof
	}
	return guard.ApproveHandout(ctx, h)
}

// HandoutEndpoints are the endpoints in vars, as URLs (guard.CheckExecArgs): a command
// given them may name them, and no other loopback address.
func HandoutEndpoints(vars []EnvVar) []string {
	out := []string{}
	var host, port string
	for _, v := range vars {
		switch v.Name {
		case "VAULT_ADDR":
			out = append(out, v.Value)
		case "PGHOST":
			host = v.Value
		case "PGPORT":
			port = v.Value
		}
	}
	if host != "" && port != "" {
		hp := net.JoinHostPort(host, port)
		out = append(out, "postgres://"+hp, "postgresql://"+hp)
	}
	return out
}
