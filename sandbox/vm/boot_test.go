package vm

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// A VM whose QEMU is gone (here: no PID file, as after `vm stop --hard` during a boot)
// makes WaitReady fail at once, saying so and quoting the console, in either of its
// waits; it never sleeps out the readiness timeout.
func TestWaitReadyNoticesQEMUExit(t *testing.T) {
	dir := t.TempDir()
	m := New(Sandbox{Record: guard.Record{Name: "t", UUID: "0c6f0d3e-2d43-4b1b-9a57-7a4cb1f1e1a1", StateDir: dir}})
	st := &State{Name: "vm-0", SSHPort: 1}
	if err := os.MkdirAll(m.Dir(st.Name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.ConsoleLog(st.Name), []byte("[    0.1] Booting Linux\n[    4.9] Run /init as init process\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := func(err error) {
		t.Helper()
		var exited *ExitedError
		if !errors.As(err, &exited) || !errors.Is(err, guard.ErrVMNotRunning) {
			t.Fatalf("error %v, want an ExitedError wrapping ErrVMNotRunning", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "stopped while booting") || !strings.Contains(msg, "Run /init as init process") {
			t.Errorf("error does not say why or quote the console:\n%s", msg)
		}
	}
	t0 := time.Now()
	_, err := m.WaitReady(ctx, st)
	check(err)
	tries := 0
	err = m.whileBooting(ctx, st, time.Millisecond, func(context.Context, guard.VMProcess) error {
		tries++
		return errors.New("connection refused")
	})
	check(err)
	if tries != 0 {
		t.Errorf("%d tries on a VM whose QEMU is gone", tries)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("took %s to notice", d)
	}
}
