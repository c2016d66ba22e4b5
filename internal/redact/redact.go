// Package redact keeps secrets out of error messages, logs and reports.
package redact

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"regexp"
	"slices"
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

// String returns s with every non-empty secret replaced by "[redacted]", in every form
// a program may print it (see Forms).
func String(s string, secrets ...string) string {
	for _, x := range secrets {
		for _, f := range Forms(x) {
			s = strings.ReplaceAll(s, f, Mark)
		}
	}
	return s
}

// minEncoded is the shortest secret whose encoded forms are redacted too: shorter
// ones would match ordinary text once encoded.
const minEncoded = 8

// Forms is secret as it may be printed: as it is, hex (lower and upper case), base64
// (standard and URL alphabets, padded or not), URL-encoded (query and path escaping,
// upper and lower case), and, for a secret that is itself base64 or hex (an unseal
// key, which Vault prints both ways), the other encodings of its bytes. A secret
// encoded inside a longer value (base64 of "token=<secret>") is caught by the part of
// its base64 that does not depend on what surrounds it, at each of the three offsets.
// Longer forms come first, so that each is replaced whole.
func Forms(secret string) []string {
	if secret == "" {
		return nil
	}
	forms := []string{secret}
	if len(secret) < minEncoded {
		return forms
	}
	add := func(f string) {
		if len(f) >= minEncoded && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	encodings := func(b []byte) {
		add(hex.EncodeToString(b))
		add(strings.ToUpper(hex.EncodeToString(b)))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			add(enc.EncodeToString(b))
		}
	}
	encodings([]byte(secret))
	for _, esc := range []string{url.QueryEscape(secret), url.PathEscape(secret)} {
		add(esc)
		add(rePercent.ReplaceAllStringFunc(esc, strings.ToLower))
	}
	if b, err := base64.StdEncoding.DecodeString(secret); err == nil && len(b) >= minEncoded {
		encodings(b)
	} else if b, err := base64.URLEncoding.DecodeString(secret); err == nil && len(b) >= minEncoded {
		encodings(b)
	}
	if b, err := hex.DecodeString(secret); err == nil && len(b) >= minEncoded {
		encodings(b)
	}
	// base64 inside a longer value: the characters that encode only the secret's bytes.
	for shift := 1; shift <= 2; shift++ {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			add(base64Core(enc, []byte(secret), shift))
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(base64Core(enc, []byte(secret), 0))
	}
	slices.SortStableFunc(forms[1:], func(a, b string) int { return len(b) - len(a) })
	return forms
}

// rePercent is one URL escape, whose hex digits some programs print in lower case.
var rePercent = regexp.MustCompile(`%[0-9A-F]{2}`)

// base64Core is the part of the base64 encoding of b, placed shift bytes after the
// start of a 3-byte group, that depends on b alone: whatever precedes or follows it,
// a base64 text that holds b at that offset holds this string.
func base64Core(enc *base64.Encoding, b []byte, shift int) string {
	padded := append(make([]byte, shift), b...)
	full := enc.EncodeToString(padded)
	// Characters are 6-bit groups: skip those that hold any bit of the prefix, and
	// those of the last, incomplete group (they depend on what follows).
	start := (shift*8 + 5) / 6
	end := (len(padded) * 8) / 6
	if end <= start || end > len(full) {
		return ""
	}
	return full[start:end]
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
