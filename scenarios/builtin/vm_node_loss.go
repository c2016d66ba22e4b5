package builtin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/scenarios"
)

// vmNodeLoss: a VM loses power, as a Raspberry Pi does when its supply is pulled. Its
// QEMU is killed with SIGKILL: the guest flushes nothing. SSH is refused until the VM
// is started again on its own disk; it must then boot to SSH-ready with what it had
// made durable before the cut still there (ext4 replays its journal).
//
// The drill writes its marker file and fsyncs it before the cut, as a service commits
// its data: a power cut may lose what was never flushed, and that is not what the
// drill checks. The cut itself has no guest `sync` before it (TOOLCHAIN.md measured
// that SIGKILL after a sync is safe; here the sync belongs to the write, not to the cut).
type vmNodeLoss struct {
	// nonce is what steady wrote to the marker file; verify reads it back.
	nonce string
	// bootID is the VM's boot ID before the cut; verify wants a new one.
	bootID string
	// undoStarted: an Undo try started the VM and ran out while it booted; the next
	// try, which finds it running, still says it was started.
	undoStarted bool
}

// NewVMNodeLoss: the catalogue runs it with --all only on a sandbox with VMs.
func NewVMNodeLoss() scenarios.Scenario { return &vmNodeLoss{} }

// The drill's marker, in the login user's home.
const vmMarker = ".labsbx-drill-marker"

// The milestones of the recovery.
const (
	msPowerCut   = "VM power cut (QEMU killed)"
	msSSHRefused = "SSH refused"
	msVMStarted  = "VM started on its disk"
	msVMReady    = "VM SSH-ready"
)

func (*vmNodeLoss) Name() string { return "vm-node-loss" }
func (*vmNodeLoss) Description() string {
	return "a VM loses power: SSH is refused until it is started again, and it must come back with its disk intact"
}
func (*vmNodeLoss) Runbook(e *scenarios.Env) string {
	return fmt.Sprintf("labsbx vm start %s --name %s", targetVM(e.State), e.State.Name)
}

// targetVM is the VM that loses power: the first one.
func targetVM(st *state.State) string {
	if len(st.VMs) == 0 {
		return "vm-0"
	}
	return st.VMs[0].Name
}

func (*vmNodeLoss) vm(e *scenarios.Env) (*state.VMState, error) {
	if e.VMs == nil || len(e.State.VMs) == 0 {
		return nil, scenarios.Permanent(fmt.Errorf("sandbox %q has no VMs: create one with `labsbx up --vms 1 --name %s`", e.State.Name, e.State.Name))
	}
	return &e.State.VMs[0], nil
}

// bootID is the kernel's random per-boot ID: it changes when the VM really rebooted.
const bootIDCmd = "cat /proc/sys/kernel/random/boot_id"

func (s *vmNodeLoss) Steady(ctx context.Context, e *scenarios.Env) error {
	v, err := s.vm(e)
	if err != nil {
		return err
	}
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	n := hex.EncodeToString(nonce)
	// Written, then fsynced (sync FILE) and the directory entry flushed (sync).
	out, err := e.VMs.Run(ctx, v, fmt.Sprintf("printf %%s %s > ~/%s && sync ~/%s && sync && %s", n, vmMarker, vmMarker, bootIDCmd))
	if err != nil {
		return fmt.Errorf("VM %s does not answer over SSH: %w", v.Name, err)
	}
	s.nonce, s.bootID = n, strings.TrimSpace(string(out))
	return nil
}

func (s *vmNodeLoss) Inject(ctx context.Context, e *scenarios.Env) error {
	v, err := s.vm(e)
	if err != nil {
		return err
	}
	if err := e.VMs.PowerCut(ctx, v); err != nil {
		return err
	}
	e.Mark(msPowerCut)
	return nil
}

// Observe: nothing listens on the VM's port any more, so a connection is refused.
func (s *vmNodeLoss) Observe(ctx context.Context, e *scenarios.Env) error {
	v, err := s.vm(e)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", v.SSHPort))
	if err == nil {
		c.Close()
		return fmt.Errorf("127.0.0.1:%d still accepts connections", v.SSHPort)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("connecting to 127.0.0.1:%d fails, but is not refused: %w", v.SSHPort, err)
	}
	e.MarkOnce(msSSHRefused)
	return nil
}

func (s *vmNodeLoss) Recover(ctx context.Context, e *scenarios.Env) error {
	v, err := s.vm(e)
	if err != nil {
		return err
	}
	if err := StartVM(ctx, e, v); err != nil {
		return err
	}
	return nil
}

// StartVM starts the VM on its overlay, records a moved port and waits until it is ready.
func StartVM(ctx context.Context, e *scenarios.Env, v *state.VMState) error {
	port := v.SSHPort
	if _, err := e.VMs.Start(ctx, v); err != nil {
		return err
	}
	e.MarkOnce(msVMStarted)
	if v.SSHPort != port {
		if err := e.SaveState(); err != nil {
			return err
		}
		if _, err := e.VMs.WriteAccessFiles(e.State.VMs); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if _, err := e.VMs.WaitReady(wctx, v); err != nil {
		return err
	}
	e.MarkOnce(msVMReady)
	return nil
}

// Verify: the VM answers, it booted again (a new boot ID), its root file system is
// mounted read-write (no errors made ext4 remount it read-only), and the marker
// written before the cut reads back.
func (s *vmNodeLoss) Verify(ctx context.Context, e *scenarios.Env) error {
	v, err := s.vm(e)
	if err != nil {
		return err
	}
	out, err := e.VMs.Run(ctx, v, fmt.Sprintf("cat ~/%s; echo; %s; awk '$2 == \"/\" {print $4}' /proc/mounts", vmMarker, bootIDCmd))
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		return fmt.Errorf("VM %s: unexpected answer %q", v.Name, out)
	}
	marker, bootID, opts := strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), strings.TrimSpace(lines[2])
	e.MarkOnce(msVMReady) // when a person started it (--manual)
	if s.nonce != "" && marker != s.nonce {
		return scenarios.Permanent(fmt.Errorf("VM %s: the file written before the power cut reads %q, want %q: the disk lost it", v.Name, marker, s.nonce))
	}
	if s.bootID != "" && bootID == s.bootID {
		return fmt.Errorf("VM %s has not rebooted yet (boot ID %s)", v.Name, bootID)
	}
	if !strings.HasPrefix(opts, "rw") {
		return scenarios.Permanent(fmt.Errorf("VM %s: its root file system is mounted %q, not read-write", v.Name, opts))
	}
	return nil
}

// Undo starts the VM if it is down and waits for it. `drill recover` gives each try a
// few seconds: a try that runs out while the VM boots fails as a timeout, which it
// retries, and the next one finds the VM running and waits on.
func (s *vmNodeLoss) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	v, err := s.vm(e)
	if err != nil {
		return "", err
	}
	running, err := e.VMs.Running(v)
	if err != nil {
		return "", err
	}
	if !running {
		if err := StartVM(ctx, e, v); err != nil {
			s.undoStarted = true
			return "", err
		}
		return fmt.Sprintf("started VM %s again on its disk", v.Name), nil
	}
	if _, err := e.VMs.WaitReady(ctx, v); err != nil {
		return "", err
	}
	if s.undoStarted {
		return fmt.Sprintf("started VM %s again on its disk", v.Name), nil
	}
	return fmt.Sprintf("VM %s is already running", v.Name), nil
}
