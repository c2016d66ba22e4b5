package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/arcodange/labsbx/internal/execx"
	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/vmimages"
)

// SSHBanner is what an SSH server sends first.
const SSHBanner = "SSH-2.0-"

// ProbeBanner connects to addr and reads the server's identification line. QEMU's
// user network accepts a connection on the forwarded port before sshd runs in the
// guest, so an accepted connection proves nothing: only the banner does.
func ProbeBanner(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, len(SSHBanner))
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("no SSH banner from %s: %w", addr, err)
	}
	if string(buf) != SSHBanner {
		return fmt.Errorf("%s answered %q, not an SSH banner", addr, buf)
	}
	return nil
}

// Readiness says how long a VM took to become ready, from the call to WaitReady.
type Readiness struct {
	Banner time.Duration `json:"bannerNanos"` // sshd answers
	Ready  time.Duration `json:"readyNanos"`  // logged in, first boot finished
	// SystemState is `systemctl is-system-running` once boot finished: running, or
	// degraded when a unit failed.
	SystemState string `json:"systemState"`
}

// WaitReady waits until the VM's SSH server sends its banner, then until a login with
// the sandbox key works and the guest says its first boot finished (the identity was
// applied and systemd finished starting units). It fails at once when QEMU exits.
func (m *Manager) WaitReady(ctx context.Context, st *State) (Readiness, error) {
	defer m.stopSeed(st.Name)
	t0 := time.Now()
	var r Readiness
	err := m.whileBooting(ctx, st, 250*time.Millisecond, func(ctx context.Context, p guard.VMProcess) error {
		addr, err := p.SSHAddr()
		if err != nil {
			return wait.Permanent(err)
		}
		return ProbeBanner(ctx, addr, 2*time.Second)
	})
	if err != nil {
		return r, bootFailed(st, "no SSH banner", err, m)
	}
	r.Banner = time.Since(t0)
	check := "test -e /var/lib/labsbx/first-boot && sudo -n systemctl is-system-running --wait"
	if img, err := m.image(st); err == nil && img.FirstBoot == vmimages.FirstBootCloudInit {
		check = "sudo -n cloud-init status --wait >/dev/null; " + check
	}
	err = m.whileBooting(ctx, st, 500*time.Millisecond, func(ctx context.Context, _ guard.VMProcess) error {
		out, err := m.Run(ctx, st, check)
		state := strings.TrimSpace(string(out))
		var ee *ssh.ExitError
		if err == nil || errors.As(err, &ee) && (state == "degraded" || state == "running") {
			r.Ready, r.SystemState = time.Since(t0), state
			return nil
		}
		// The identity unit runs before sshd: once a login works, a missing sudo rule
		// will not appear by waiting.
		if strings.Contains(err.Error(), "a password is required") {
			return wait.Permanent(fmt.Errorf("user %s logged in but has no passwordless sudo: the VM's identity (labsbx-identity.service, at every boot) was not applied; see its journal with `labsbx vm ssh %s -- journalctl -b -u labsbx-identity`: %w", st.User, st.Name, err))
		}
		return err
	})
	if err != nil {
		return r, bootFailed(st, "first boot did not finish", err, m)
	}
	if r.SystemState == "degraded" {
		m.sb.Log.Warn("VM booted with failed units (systemctl --failed shows them)", "vm", st.Name)
	}
	return r, nil
}

// whileBooting polls try every interval until it passes, fails for good or ctx ends.
// Before each try it asks for the VM's QEMU: once QEMU has exited (a power cut, a
// crash, a kill), nothing will become ready, so it fails at once, with the reason and
// the console's last lines, instead of sleeping out the readiness timeout.
func (m *Manager) whileBooting(ctx context.Context, st *State, interval time.Duration, try func(context.Context, guard.VMProcess) error) error {
	return wait.Poll(ctx, wait.Options{Interval: interval}, func(ctx context.Context) error {
		p, err := m.Process(st)
		if err != nil {
			return wait.Permanent(&ExitedError{VM: st.Name, Err: err, Console: m.consoleTail(st, consoleLines)})
		}
		return try(ctx, p)
	})
}

// consoleLines is how much of the console an error about a boot quotes.
const consoleLines = 20

// ExitedError is a VM whose QEMU exited before the VM was ready.
type ExitedError struct {
	VM      string
	Err     error  // why its process is not there (wraps guard.ErrVMNotRunning)
	Console string // the console's last lines
}

func (e *ExitedError) Error() string {
	return fmt.Sprintf("VM %s stopped while booting: its QEMU exited (%v); the console's last lines:\n%s", e.VM, e.Err, e.Console)
}

func (e *ExitedError) Unwrap() error { return e.Err }

// Dial opens an SSH connection to the VM: to the address its approved QEMU forwards,
// as the recorded user with the sandbox key, pinning the VM's recorded host key.
func (m *Manager) Dial(ctx context.Context, st *State) (*ssh.Client, error) {
	p, err := m.Process(st)
	if err != nil {
		return nil, err
	}
	addr, err := p.SSHAddr()
	if err != nil {
		return nil, err
	}
	hk, err := st.hostKey()
	if err != nil {
		return nil, err
	}
	kp, err := m.ClientKey()
	if err != nil {
		return nil, err
	}
	signer, err := loadOrCreateKey(kp, "labsbx-"+m.sb.Record.Name)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{User: st.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hk), Timeout: 10 * time.Second}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s@%s (%s): %w", st.User, addr, st.Name, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// Run runs a shell command in the VM and returns its standard output. A non-zero exit
// is an *ssh.ExitError; the error then carries the end of the command's stderr.
func (m *Manager) Run(ctx context.Context, st *State, cmd string) ([]byte, error) {
	c, err := m.Dial(ctx, st)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.Close()
		return stdout.Bytes(), ctx.Err()
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %q: %w\n%s", st.Name, cmd, err, execx.Tail(stderr.String(), 10))
	}
	return stdout.Bytes(), nil
}

// bootFailed says why WaitReady gave up; an ExitedError already quotes the console.
func bootFailed(st *State, what string, err error, m *Manager) error {
	var exited *ExitedError
	if errors.As(err, &exited) {
		return err
	}
	return fmt.Errorf("VM %s: %s: %w; its console:\n%s", st.Name, what, err, m.consoleTail(st, consoleLines))
}

// ConsoleTail is the end of the VM's console log, for error messages.
func (m *Manager) consoleTail(st *State, n int) string {
	b, err := os.ReadFile(m.ConsoleLog(st.Name))
	if err != nil {
		return "(no console log: " + err.Error() + ")"
	}
	return execx.Tail(string(b), n)
}
