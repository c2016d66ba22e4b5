// Package redact keeps secrets out of error messages, logs and reports.
package redact

import (
	"errors"
	"regexp"
	"strings"
)

// Mark is what a secret is replaced with.
const Mark = "[redacted]"

// Err returns err with every non-empty secret in its text replaced by "[redacted]";
// err itself when none occurs.
func Err(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := String(err.Error(), secrets...)
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// String returns s with every non-empty secret replaced by "[redacted]".
func String(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, Mark)
		}
	}
	return s
}

var (
	reVaultToken = regexp.MustCompile(`\bhv[sbr]\.[A-Za-z0-9_-]{16,}|\bs\.[A-Za-z0-9]{24}\b`)
	// A password or key field: JSON ("password": "…"), the Vault CLI's table
	// (password  …) and KEY=value forms.
	rePasswordField = regexp.MustCompile(`(?i)((?:\b|_)(?:password|passwd|secret_id|client_token|root_token|unseal_keys?_b64|unseal_key|PGPASSWORD|VAULT_TOKEN)"?\s*(?:[:=]\s*|\s+))("[^"\n]*"|\[[^\]\n]*\]|[^\s,}\]]+)`)
)

// Output redacts what a program printed, which may hold secrets nobody told labsbx
// of (a runbook that read credentials itself): the known secrets, then anything that
// looks like a Vault token, and the value of every password, token or unseal-key field.
func Output(s string, secrets ...string) string {
	s = String(s, secrets...)
	s = reVaultToken.ReplaceAllString(s, Mark)
	return rePasswordField.ReplaceAllString(s, "${1}"+Mark)
}
