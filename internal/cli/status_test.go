package cli

import (
	"bytes"
	"errors"
	"testing"
)

func TestStatusLines(t *testing.T) {
	var b bytes.Buffer
	s := NewStatus(&b, false)
	_ = s.Step("Creating network", func() error { return nil })
	_ = s.Step("Starting Vault", func() error { return errors.New("boom") })
	s.Start("left running")
	s.End(true)
	s.End(false) // no step running: prints nothing
	want := " ✓ Creating network\n ✗ Starting Vault\n ✓ left running\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	var q bytes.Buffer
	qs := NewStatus(&q, true)
	_ = qs.Step("x", func() error { return nil })
	qs.Infof("hello")
	if q.Len() != 0 {
		t.Errorf("quiet status wrote %q", q.String())
	}
}

func TestParseOutput(t *testing.T) {
	for _, ok := range []string{"text", "json"} {
		if _, err := ParseOutput(ok); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseOutput("yaml"); err == nil {
		t.Error("yaml accepted")
	}
}

// TestStatusWriteThroughSpinner: a log line written while a step runs on a terminal
// clears the spinner's line first, and the step's end line still follows.
func TestStatusWriteThroughSpinner(t *testing.T) {
	var b bytes.Buffer
	s := &Status{w: &b, spinner: true}
	s.current = "Starting Vault" // as Start leaves it, without the ticker
	_, _ = s.Write([]byte("level=INFO msg=image\n"))
	s.Infof("Image %s: %s", "vault", "present")
	s.current = ""
	_, _ = s.Write([]byte("after\n"))
	want := "\r\x1b[Klevel=INFO msg=image\n\r\x1b[KImage vault: present\nafter\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
