package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vm"
)

// ErrNoVM is returned for a VM name the sandbox does not have.
var ErrNoVM = errors.New("no such VM")

// VMStatus is one row of `labsbx vm list`.
type VMStatus struct {
	Name       string   `json:"name"`
	State      string   `json:"state"` // running or stopped
	PID        int      `json:"pid,omitempty"`
	Host       string   `json:"host"` // always 127.0.0.1
	Port       int      `json:"port"`
	User       string   `json:"user"`
	KeyFile    string   `json:"keyFile"`
	Accel      vm.Accel `json:"accel,omitempty"`
	CPUs       int      `json:"cpus"`
	MemoryMiB  int      `json:"memoryMiB"`
	Image      string   `json:"image"`
	ConsoleLog string   `json:"consoleLog"`
}

// VMs opens a sandbox's VMs: its state and their manager. It takes no lock: like
// `vault unseal`, the VM commands are what a person runs during a --manual drill.
func (c *Configuration) VMs(name string) (*state.State, *vm.Manager, error) {
	st, err := c.Store.Load(name)
	if err != nil {
		return nil, nil, err
	}
	return st, connect.New(st, c.Getenv).VMs(c.log()), nil
}

// ListVMs reports every VM of the sandbox and whether its QEMU runs (as the guard sees it).
func (c *Configuration) ListVMs(name string) ([]VMStatus, error) {
	st, m, err := c.VMs(name)
	if err != nil {
		return nil, err
	}
	hosts, err := m.Hosts(st.VMs)
	if err != nil {
		return nil, err
	}
	out := make([]VMStatus, 0, len(st.VMs))
	for i, v := range st.VMs {
		s := VMStatus{Name: v.Name, State: "stopped", Host: hosts[i].Host, Port: v.SSHPort, User: v.User, KeyFile: hosts[i].KeyFile,
			Accel: v.Accel, CPUs: v.CPUs, MemoryMiB: v.MemoryMiB, Image: v.Image, ConsoleLog: m.ConsoleLog(v.Name)}
		p, err := m.Process(&st.VMs[i])
		switch {
		case err == nil:
			s.State, s.PID = "running", p.PID()
		case !errors.Is(err, guard.ErrVMNotRunning):
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// vmOf finds a VM of the state or says which exist.
func vmOf(st *state.State, vmName string) (*state.VMState, error) {
	if v := st.VM(vmName); v != nil {
		return v, nil
	}
	names := make([]string, 0, len(st.VMs))
	for _, v := range st.VMs {
		names = append(names, v.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w %q: sandbox %q has no VMs; create them with `labsbx up --vms N --name %s`", ErrNoVM, vmName, st.Name, st.Name)
	}
	return nil, fmt.Errorf("%w %q in sandbox %q (it has %v)", ErrNoVM, vmName, st.Name, names)
}

// StartVM starts a stopped VM on its overlay and waits until it is SSH-ready.
func (c *Configuration) StartVM(ctx context.Context, name, vmName string) (bool, vm.Readiness, error) {
	st, m, err := c.VMs(name)
	if err != nil {
		return false, vm.Readiness{}, err
	}
	v, err := vmOf(st, vmName)
	if err != nil {
		return false, vm.Readiness{}, err
	}
	port := v.SSHPort
	did, err := m.Start(ctx, v)
	if err != nil {
		return false, vm.Readiness{}, err
	}
	if v.SSHPort != port {
		// Its old port was taken: record the new one, and rewrite the access files.
		if err := c.updateVM(name, *v); err != nil {
			return did, vm.Readiness{}, err
		}
		if _, err := m.WriteAccessFiles(st.VMs); err != nil {
			return did, vm.Readiness{}, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, bringup.VMReadyTimeout)
	defer cancel()
	r, err := m.WaitReady(wctx, v)
	return did, r, err
}

// updateVM writes one VM's record into the sandbox state as it is on disk now.
func (c *Configuration) updateVM(name string, v state.VMState) error {
	st, err := c.Store.Load(name)
	if err != nil {
		return err
	}
	if cur := st.VM(v.Name); cur != nil {
		*cur = v
	}
	return c.Store.Save(st, c.now())
}

// StopVM stops a VM: the guest powers off cleanly unless hard is set, in which case
// QEMU gets SIGTERM (and SIGKILL after a grace period). It says whether it was running.
func (c *Configuration) StopVM(ctx context.Context, name, vmName string, hard bool) (bool, error) {
	st, m, err := c.VMs(name)
	if err != nil {
		return false, err
	}
	v, err := vmOf(st, vmName)
	if err != nil {
		return false, err
	}
	running, err := m.Running(v)
	if err != nil || !running {
		return false, err
	}
	if hard {
		return true, m.Stop(ctx, v, 10*time.Second)
	}
	return true, m.Shutdown(ctx, v, 90*time.Second)
}

// VMAccess writes and returns how clients reach the sandbox's VMs.
func (c *Configuration) VMAccess(name string) ([]vm.Host, vm.AccessFiles, error) {
	st, m, err := c.VMs(name)
	if err != nil {
		return nil, vm.AccessFiles{}, err
	}
	files, err := m.WriteAccessFiles(st.VMs)
	if err != nil {
		return nil, files, err
	}
	hosts, err := m.Hosts(st.VMs)
	return hosts, files, err
}

// VMSSHArgs is the ssh(1) command line into a running VM: the port comes from the
// guard-approved QEMU process itself, the host is always 127.0.0.1 and the VM's host
// key is pinned.
func (c *Configuration) VMSSHArgs(name, vmName string) ([]string, error) {
	st, m, err := c.VMs(name)
	if err != nil {
		return nil, err
	}
	v, err := vmOf(st, vmName)
	if err != nil {
		return nil, err
	}
	p, err := m.Process(v)
	if errors.Is(err, guard.ErrVMNotRunning) {
		return nil, fmt.Errorf("VM %s of sandbox %q is stopped; start it with `labsbx vm start %s --name %s`", vmName, name, vmName, name)
	}
	if err != nil {
		return nil, err
	}
	addr, err := p.SSHAddr()
	if err != nil {
		return nil, err
	}
	if _, err := m.WriteAccessFiles(st.VMs); err != nil {
		return nil, err
	}
	hosts, err := m.Hosts([]state.VMState{*v})
	if err != nil {
		return nil, err
	}
	h := hosts[0]
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &h.Port); err != nil {
		return nil, fmt.Errorf("VM %s: approved address %q", vmName, addr)
	}
	return vm.SSHArgs(h), nil
}
