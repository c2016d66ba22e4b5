package sandbox

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/postgres"
)

// Env is what points the vault, psql and kubectl clients at the sandbox (`labsbx
// env`): its Vault address and root token, its Postgres superuser, and on the full
// profile the cluster's kubeconfig in the state. It holds secrets: the one operation
// that shows them, and only because the user asked.
type Env struct {
	cfg  *Configuration
	Name string
}

// NewEnv prepares an env.
func NewEnv(cfg *Configuration) *Env { return &Env{cfg: cfg} }

// EnvVar is one variable of the environment.
type EnvVar struct {
	Name, Value string
}

// EnvResult is the environment, in the order a shell should set it.
type EnvResult struct {
	Vars []EnvVar
}

// Get is the value of variable name, or "".
func (r *EnvResult) Get(name string) string {
	for _, v := range r.Vars {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// MarshalJSON writes the variables as one object.
func (r *EnvResult) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(r.Vars))
	for _, v := range r.Vars {
		m[v.Name] = v.Value
	}
	return json.Marshal(m)
}

// Run reads the environment, through the guard: the Vault must be the sandbox's, and
// a kubeconfig the one the sandbox recorded.
func (e *Env) Run(ctx context.Context) (*EnvResult, error) {
	s, err := e.cfg.OpenVault(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	sec, err := s.State.PostgresSecrets()
	if err != nil {
		return nil, err
	}
	vars, err := SandboxVars(s, s.State.PostgresAdminEndpoint(sec))
	if err != nil {
		return nil, err
	}
	if err := proveHandout(ctx, connect.New(s.State, e.cfg.Getenv), s.Client.Address(), vars); err != nil {
		return nil, err
	}
	return &EnvResult{Vars: vars}, nil
}

// SandboxVars point clients at the sandbox whose Vault session is s: its Vault address
// and root token, its Postgres superuser pg, and on the full profile the cluster's
// kubeconfig in the state, once the guard has checked it against the record.
func SandboxVars(s *connect.VaultSession, pg postgres.Endpoint) ([]EnvVar, error) {
	vars := []EnvVar{
		{"VAULT_ADDR", s.Client.Address()},
		{"VAULT_TOKEN", s.Keys.RootToken},
		{"PGHOST", pg.Host},
		{"PGPORT", strconv.Itoa(pg.Port)},
		{"PGUSER", pg.User},
		{"PGPASSWORD", pg.Password},
		{"PGDATABASE", pg.Database},
	}
	if s.State.Kube != nil {
		kc, err := approvedKubeconfig(s.State)
		if err != nil {
			return nil, err
		}
		vars = append(vars, EnvVar{"KUBECONFIG", kc})
	}
	return vars, nil
}
