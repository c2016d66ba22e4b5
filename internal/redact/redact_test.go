package redact

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestErr(t *testing.T) {
	orig := errors.New("login as bob with hunter2 failed: hunter2 rejected")
	got := Err(orig, "hunter2", "", "bob")
	if got.Error() != "login as [redacted] with [redacted] failed: [redacted] rejected" {
		t.Errorf("Err = %q", got)
	}
	if Err(orig, "absent") != orig || Err(nil, "x") != nil { //nolint:errorlint // the very same error value must come back, not one that wraps it
		t.Error("an error without secrets, or nil, must come back as it is")
	}
}

// A secret printed encoded is redacted as well: hex, base64 (both alphabets, padded
// or not, alone or inside a longer value), URL-encoded, and an unseal key's bytes in
// the encoding Vault did not store.
func TestOutputEncodedForms(t *testing.T) {
	token := "hvs.CAESIJ4x-secret+token/value=="
	password := "p@ss w/rd:Zq8!x~"
	key := []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xfe, 0xfd, 0xfc}
	keyB64 := base64.StdEncoding.EncodeToString(key)
	printed := map[string]string{
		"hex":            hex.EncodeToString([]byte(token)),
		"HEX":            strings.ToUpper(hex.EncodeToString([]byte(password))),
		"base64":         base64.StdEncoding.EncodeToString([]byte(password)),
		"base64url":      base64.URLEncoding.EncodeToString([]byte(token)),
		"base64raw":      base64.RawStdEncoding.EncodeToString([]byte(password)),
		"urlquery":       url.QueryEscape(password),
		"urlpath":        url.PathEscape(password),
		"urllower":       strings.NewReplacer("%2F", "%2f", "%3A", "%3a").Replace(url.QueryEscape(password)),
		"key hex":        hex.EncodeToString(key),
		"key base64url":  base64.RawURLEncoding.EncodeToString(key),
		"inside base64":  base64.StdEncoding.EncodeToString([]byte("PGPASSWORD=" + password + "\n")),
		"inside base64b": base64.StdEncoding.EncodeToString([]byte("x" + password)),
		"inside hex":     hex.EncodeToString([]byte("tok:" + token)),
	}
	for label, p := range printed {
		out := Output("value: "+p+" end", token, password, keyB64)
		for _, secret := range []string{token, password, keyB64, hex.EncodeToString(key)} {
			for _, f := range Forms(secret) {
				if len(f) >= 12 && strings.Contains(out, f) {
					t.Errorf("%s: %q still holds %q", label, out, f)
				}
			}
		}
		if !strings.Contains(out, Mark) {
			t.Errorf("%s: nothing redacted in %q", label, out)
		}
		if strings.Contains(out, p) {
			t.Errorf("%s: the printed form survives whole: %q", label, out)
		}
	}
	if got := String("short abc", "abc"); got != "short "+Mark {
		t.Errorf("a short secret: %q", got)
	}
	if got := String("plain text stays", "hunter2-long-secret"); got != "plain text stays" {
		t.Errorf("text without a secret changed: %q", got)
	}
}
