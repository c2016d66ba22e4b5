package scenarios

import "github.com/arcodange/labsbx/internal/redact"

// What the drill reports of a command's output, an error or a probe's detail never
// holds a secret: the sandbox's own (unseal key, root token, database passwords, the
// credentials a drill read) are replaced wherever they appear, and so is whatever
// looks like a Vault token or a password field, which a runbook may print from
// credentials it read itself.

// AddSecret makes the reports redact s from now on.
func (e *Env) AddSecret(s string) {
	if len(s) < 6 { // too short to be a secret labsbx made; redacting it would garble text
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.secrets {
		if x == s {
			return
		}
	}
	e.secrets = append(e.secrets, s)
}

// Redact replaces every secret in s.
func (e *Env) Redact(s string) string {
	e.mu.Lock()
	secrets := append([]string(nil), e.secrets...)
	e.mu.Unlock()
	return redact.Output(s, secrets...)
}

// knownSecrets registers the sandbox's own secrets with the redactor.
func (e *Env) knownSecrets() {
	if e.Vault != nil && e.Vault.Keys != nil {
		for _, k := range e.Vault.Keys.UnsealKeysB64 {
			e.AddSecret(k)
		}
		e.AddSecret(e.Vault.Keys.RootToken)
	}
	e.AddSecret(e.PGAdmin.Password)
	if sec, err := e.State.PostgresSecrets(); err == nil {
		e.AddSecret(sec.SuperuserPassword)
		e.AddSecret(sec.VaultAdminPassword)
	}
}
