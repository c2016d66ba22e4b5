package redact

import (
	"errors"
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
