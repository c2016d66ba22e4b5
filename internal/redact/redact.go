// Package redact keeps secrets out of error messages.
package redact

import (
	"errors"
	"strings"
)

// Err returns err with every non-empty secret in its text replaced by "[redacted]";
// err itself when none occurs.
func Err(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
