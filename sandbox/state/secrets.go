package state

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
)

// SecretsDir is the sub-directory of a sandbox's state dir that holds its secrets.
const SecretsDir = "secrets"

// Files in SecretsDir.
const (
	vaultKeysFile    = "vault-keys.json"
	postgresFile     = "postgres.json"
	ciSigningKeyFile = "ci-signing-key.pem"
)

// GuardRecord is what the guard trusts about this sandbox: only what the state recorded.
func (s *State) GuardRecord() guard.Record {
	rec := guard.Record{Name: s.Name, UUID: s.UUID, StateDir: s.dir, EngineID: s.EngineID}
	if k := s.Kube; k != nil {
		rec.Kube = &guard.KubeRecord{Context: k.Context, Cluster: k.Cluster, User: k.User, Server: k.Server,
			CAFingerprint: k.CAFingerprint, AuthPlugin: k.AuthPlugin, MarkerWritten: k.MarkerWritten}
	}
	if v := s.Vault; v != nil {
		rec.Vault = &guard.VaultRecord{Addr: v.Addr, ContainerID: v.ContainerID, ClusterID: v.ClusterID}
	}
	return rec
}

// SecretPath asks the guard for a secret file of this sandbox.
func (s *State) SecretPath(file string) (guard.KeyPath, error) {
	return guard.ApproveKeyPath(s.GuardRecord(), filepath.Join(s.dir, SecretsDir, file))
}

// VaultKeysPath is the guarded path of the unseal key and root token.
func (s *State) VaultKeysPath() (guard.KeyPath, error) { return s.SecretPath(vaultKeysFile) }

// CISigningKeyPath is the guarded path of the CI token signing key.
func (s *State) CISigningKeyPath() (guard.KeyPath, error) { return s.SecretPath(ciSigningKeyFile) }

// PostgresSecrets are the sandbox's database passwords.
type PostgresSecrets struct {
	SuperuserPassword  string `json:"superuser_password"`
	VaultAdminPassword string `json:"vault_admin_password"`
}

func (PostgresSecrets) String() string   { return "sandbox.PostgresSecrets{[redacted]}" }
func (PostgresSecrets) GoString() string { return "sandbox.PostgresSecrets{[redacted]}" }

// ErrNoPostgresSecrets means the sandbox's database passwords file is missing.
var ErrNoPostgresSecrets = errors.New("the sandbox's database passwords are missing")

// PostgresSecrets reads the database passwords. They are created only by up, before
// the sandbox's Postgres exists (createPostgresSecrets): a missing file afterwards is
// an error that names the fix, never a new password the running Postgres does not know.
func (s *State) PostgresSecrets() (*PostgresSecrets, error) {
	kp, err := s.SecretPath(postgresFile)
	if err != nil {
		return nil, err
	}
	b, err := kp.ReadFile()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s): the sandbox's Postgres was set up with them; restore the file from a backup, or start afresh with `labsbx down --name %s` then `labsbx up --name %s`",
			ErrNoPostgresSecrets, kp.Path(), s.Name, s.Name)
	}
	if err != nil {
		return nil, err
	}
	var ps PostgresSecrets
	if err := json.Unmarshal(b, &ps); err != nil || ps.SuperuserPassword == "" || ps.VaultAdminPassword == "" {
		return nil, fmt.Errorf("secret file %s is corrupt; restore it from a backup, or start afresh with `labsbx down --name %s` then `labsbx up --name %s`", kp.Path(), s.Name, s.Name)
	}
	return &ps, nil
}

// CreatePostgresSecrets writes new database passwords, for up before Postgres exists.
func (s *State) CreatePostgresSecrets() (*PostgresSecrets, error) {
	kp, err := s.SecretPath(postgresFile)
	if err != nil {
		return nil, err
	}
	ps := &PostgresSecrets{SuperuserPassword: randomPassword(), VaultAdminPassword: randomPassword()}
	b, _ := json.MarshalIndent(ps, "", "  ")
	if err := kp.WriteFile(append(b, '\n')); err != nil {
		return nil, err
	}
	return ps, nil
}

func randomPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// VaultPort is the host port of the recorded Vault address.
func (s *State) VaultPort() (int, error) {
	if s.Vault == nil {
		return 0, errors.New("no Vault is recorded")
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(s.Vault.Addr, "http://"), "https://"))
	if err != nil {
		return 0, fmt.Errorf("recorded Vault address %q: %w", s.Vault.Addr, err)
	}
	return strconv.Atoi(port)
}

// Preflight asks the guard, offline, about everything the state recorded, before an
// operation changes anything (guard.PreflightVault).
func (s *State) Preflight(context.Context) error { return guard.PreflightVault(s.GuardRecord()) }

// PostgresAdminEndpoint is the superuser endpoint of the sandbox's Postgres, from the host.
func (s *State) PostgresAdminEndpoint(sec *PostgresSecrets) postgres.Endpoint {
	port := 0
	if s.Docker != nil {
		port = s.Docker.PostgresPort
	}
	return postgres.Endpoint{Host: "127.0.0.1", Port: port, User: "postgres", Password: sec.SuperuserPassword, Database: "postgres"}
}
