package guard

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCheckVaultArgs(t *testing.T) {
	for _, args := range [][]string{
		{"status", "-address=http://192.0.2.10:8200"},
		{"kv", "get", "--address", "http://elsewhere", "kvv2/x"},
		{"-address", "http://elsewhere", "status"},
		{"login", "-ADDRESS=http://elsewhere"},
		{"status", "-agent-address=http://elsewhere"},
	} {
		if err := CheckVaultArgs(args); !errors.Is(err, ErrRefused) {
			t.Errorf("vault %v: %v, want a refusal", args, err)
		}
	}
	for _, args := range [][]string{
		{"status"}, {"kv", "put", "kvv2/app/config", "address=somewhere"}, {"read", "-format=json", "sys/health"},
	} {
		if err := CheckVaultArgs(args); err != nil {
			t.Errorf("vault %v: %v", args, err)
		}
	}
}

func TestCheckPSQLArgs(t *testing.T) {
	for _, args := range [][]string{
		{"-h", "192.0.2.10"},
		{"-h192.0.2.10"},
		{"-qh", "elsewhere"},
		{"-p", "6543"},
		{"-Xp6543"},
		{"--host=elsewhere"},
		{"--host", "elsewhere"},
		{"--ho=elsewhere"},
		{"--po", "6543"},
		{"host=elsewhere dbname=postgres"},
		{"postgres", "postgres", "--", "port=6543"},
		{"dbname=postgres port=6543"},
		{"-d", "host=elsewhere"},
		{"--dbname=postgresql://elsewhere:5432/postgres"},
		{"postgres://user:pw@elsewhere/postgres"},
		{"postgresql:///postgres?host=elsewhere"},
		{"service=prod"},
		{"hostaddr=192.0.2.10"},
		{"-c", `\connect host=elsewhere`},
		{"-c", `select 1; \c postgres postgres elsewhere 5432`},
		{"--command", `\c postgresql://elsewhere/postgres`},
	} {
		if err := CheckPSQLArgs(args); !errors.Is(err, ErrRefused) {
			t.Errorf("psql %q: %v, want a refusal", args, err)
		}
	}
	for _, args := range [][]string{
		{},
		{"-c", "select current_user"},
		{"-c", `\c postgres`},
		{"-U", "webapp", "-d", "postgres", "-At", "-c", "select 1"},
		{"-c", "select 'host=x'"}, // a value of -c that is SQL, not a conninfo
		{"postgres"},
		{"postgresql:///postgres"},
		{"-v", "ON_ERROR_STOP=1", "-f", "fix.sql"},
		{"--csv", "--pset=null=(null)"},
	} {
		if err := CheckPSQLArgs(args); err != nil {
			t.Errorf("psql %q: %v", args, err)
		}
	}
}

func TestCheckExecArgs(t *testing.T) {
	endpoints := []string{"http://127.0.0.1:18200", "postgres://127.0.0.1:15432"}
	for _, argv := range [][]string{
		{"psql", "-h", "elsewhere"},
		{"/usr/bin/psql", "-p", "6543"},
		{"vault", "status", "-address=http://elsewhere:8200"},
		{"sh", "-c", "psql -h elsewhere -c 'select 1'"},
		{"sh", "-c", "vault status -address http://elsewhere"},
		{"env", "VAULT_ADDR=http://elsewhere", "vault", "status"},
		{"sh", "-c", "PGHOST=elsewhere psql"},
		{"curl", "http://192.0.2.10/"},
		{"curl", "http://127.0.0.1:9999/v1/sys/health"}, // loopback, not the sandbox's
		{"cat", "/home/u/.arcodange/cluster-keys.json"},
	} {
		if err := CheckExecArgs(argv, endpoints); !errors.Is(err, ErrRefused) {
			t.Errorf("exec %q: %v, want a refusal", argv, err)
		}
	}
	for _, argv := range [][]string{
		{"vault", "status"},
		{"psql", "-c", "select current_user"},
		{"sh", "-c", "vault kv get kvv2/webapp/config && psql -At -c 'select 1'"},
		{"curl", "-s", "http://127.0.0.1:18200/v1/sys/health"},
		{"true"},
	} {
		if err := CheckExecArgs(argv, endpoints); err != nil {
			t.Errorf("exec %q: %v", argv, err)
		}
	}
}

// fixedProof is a receiver proof with a fixed port and answer.
type fixedProof struct {
	port int
	err  error
	n    int
}

func (p *fixedProof) Prove(context.Context) (string, error) { p.n++; return "e", p.err }
func (p *fixedProof) HostPort() int                         { return p.port }

func TestApproveHandout(t *testing.T) {
	ctx := context.Background()
	good := &fixedProof{port: 15432}
	if err := ApproveHandout(ctx, Handout{VaultAddr: "http://127.0.0.1:18200", ApprovedVault: "http://127.0.0.1:18200", PGHost: "127.0.0.1", PGPort: "15432", Postgres: good}); err != nil || good.n != 1 {
		t.Fatalf("the sandbox's endpoints: %v (proofs %d)", err, good.n)
	}
	for label, h := range map[string]Handout{
		"another vault":   {VaultAddr: "http://127.0.0.1:1", ApprovedVault: "http://127.0.0.1:18200"},
		"tampered port":   {PGHost: "127.0.0.1", PGPort: "6543", Postgres: &fixedProof{port: 15432}},
		"another host":    {PGHost: "192.0.2.10", PGPort: "15432", Postgres: &fixedProof{port: 15432}},
		"no proof":        {PGHost: "127.0.0.1", PGPort: "15432"},
		"receiver refuse": {PGHost: "127.0.0.1", PGPort: "15432", Postgres: &fixedProof{port: 15432, err: refusef("container does not publish it")}},
	} {
		if err := ApproveHandout(ctx, h); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want a refusal", label, err)
		} else if strings.Contains(err.Error(), "password") {
			t.Errorf("%s: %v", label, err)
		}
	}
}

// Each refusal of the client, hand-out and down-owner checks names its step of
// checks.go; a nested client check keeps its own name; an error that is not a
// refusal (a Postgres that is ours but stopped, a kept state dir) stays what it is.
func TestClientHandoutAndDownChecksAreNamed(t *testing.T) {
	ctx := context.Background()
	u := "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	for want, err := range map[string]error{
		"client-vault-address": CheckVaultArgs([]string{"status", "-address=http://192.0.2.10:8200"}),
		"client-psql-server":   CheckPSQLArgs([]string{"-U", "app", "-h", "elsewhere"}),
		"client-psql-conninfo": CheckPSQLArgs([]string{"-d", "host=elsewhere"}),
		"client-psql-connect":  CheckPSQLArgs([]string{"-c", `\connect host=elsewhere`}),
		"client-exec":          CheckExecArgs([]string{"curl", "http://192.0.2.10:8200/v1/sys/health"}, nil),
		// A client named inside the command: its own check's name.
		"client-psql-server#exec": CheckExecArgs([]string{"sh", "-c", "psql -p 6543"}, nil),
		"handout-vault":           ApproveHandout(ctx, Handout{VaultAddr: "http://127.0.0.1:1", ApprovedVault: "http://127.0.0.1:18200"}),
		"handout-postgres":        ApproveHandout(ctx, Handout{PGHost: "127.0.0.1", PGPort: "6543", Postgres: &fixedProof{port: 15432}}),
		"down-uuid-owner":         ApproveLostUUID(LostUUID{Name: "demo", UUID: u, OwnerRoot: "/r"}),
		"down-uuid-vault":         ApproveLostUUID(LostUUID{Name: "demo", UUID: u, VaultClusterID: "c-1", ClusterIDRoot: "/r"}),
	} {
		want, _, _ = strings.Cut(want, "#")
		var r *Refusal
		if !errors.As(err, &r) || r.Check != want {
			t.Errorf("%s: %v (check %q)", want, err, func() string {
				if r != nil {
					return r.Check
				}
				return ""
			}())
		}
	}
	stopped := ApproveHandout(ctx, Handout{PGHost: "127.0.0.1", PGPort: "15432", Postgres: &fixedProof{port: 15432, err: ErrReceiverStopped}})
	if !errors.Is(stopped, ErrReceiverStopped) || errors.Is(stopped, ErrRefused) {
		t.Errorf("a stopped Postgres: %v, want ErrReceiverStopped and no refusal", stopped)
	}
	if err := KeepKeyError(KeptKey{StateDir: "/s", Volume: "v"}); !errors.Is(err, ErrKeptKey) || errors.Is(err, ErrRefused) {
		t.Errorf("KeepKeyError = %v, want ErrKeptKey and no refusal", err)
	}
}
