package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vm"
	"github.com/arcodange/labsbx/vmimages"
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

// listVMs reports every VM of the sandbox and whether its QEMU runs (as the guard sees it).
func (c *Configuration) listVMs(name string) ([]VMStatus, error) {
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

// startVM starts a stopped VM on its overlay and waits until it is SSH-ready.
func (c *Configuration) startVM(ctx context.Context, name, vmName string) (bool, vm.Readiness, error) {
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

// stopVM stops a VM: the guest powers off cleanly unless hard is set, in which case
// QEMU gets SIGTERM (and SIGKILL after a grace period). It says whether it was running.
func (c *Configuration) stopVM(ctx context.Context, name, vmName string, hard bool) (bool, error) {
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

// vmAccess writes and returns how clients reach the sandbox's VMs.
func (c *Configuration) vmAccess(name string) ([]vm.Host, vm.AccessFiles, error) {
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

// vmSSHArgs is the ssh(1) command line into a running VM: the port comes from the
// guard-approved QEMU process itself, the host is always 127.0.0.1 and the VM's host
// key is pinned.
func (c *Configuration) vmSSHArgs(name, vmName string) ([]string, error) {
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

// VMImageBuild builds (Linux) or downloads (macOS, or Source cloud) the VM image of
// Recipe into the cache, keyed by the recipe's hash; nothing happens when it is there
// unless Force (`labsbx vm image build`).
type VMImageBuild struct {
	cfg    *Configuration
	Recipe string
	Source vmimages.Source
	Force  bool
}

// NewVMImageBuild prepares a build of the default recipe.
func NewVMImageBuild(cfg *Configuration) *VMImageBuild {
	return &VMImageBuild{cfg: cfg, Recipe: config.DefaultSpec().VMs.Image, Source: vmimages.SourceAuto}
}

// Run ensures the image.
func (b *VMImageBuild) Run(ctx context.Context) (*vmimages.Result, error) {
	root, err := vmimages.CacheRoot(b.cfg.Getenv)
	if err != nil {
		return nil, err
	}
	builder := &vmimages.Builder{CacheRoot: root, Source: b.Source, Getenv: b.cfg.Getenv, Log: b.cfg.log()}
	var res *vmimages.Result
	err = b.cfg.progress().Step("Ensuring VM image "+b.Recipe, func() error {
		res, err = builder.Ensure(ctx, b.Recipe, b.Force)
		return err
	})
	return res, err
}

// VMList lists the sandbox's VMs, whether each runs, and how to reach it (`labsbx vm
// list`).
type VMList struct {
	cfg  *Configuration
	Name string
}

// NewVMList prepares a list.
func NewVMList(cfg *Configuration) *VMList { return &VMList{cfg: cfg} }

// Run lists them.
func (o *VMList) Run() ([]VMStatus, error) { return o.cfg.listVMs(o.Name) }

// VMStart starts a stopped VM on its own disk and waits until SSH answers (`labsbx vm
// start`).
type VMStart struct {
	cfg      *Configuration
	Name, VM string
}

// NewVMStart prepares a start.
func NewVMStart(cfg *Configuration) *VMStart { return &VMStart{cfg: cfg} }

// VMStartResult says whether the VM was started and how long it took to be ready.
type VMStartResult struct {
	VM        string       `json:"vm"`
	Started   bool         `json:"started"`
	Readiness vm.Readiness `json:"readiness"`
}

// Run starts it.
func (o *VMStart) Run(ctx context.Context) (*VMStartResult, error) {
	res := &VMStartResult{VM: o.VM}
	err := o.cfg.progress().Step("Starting VM "+o.VM+" and waiting for SSH", func() error {
		var err error
		res.Started, res.Readiness, err = o.cfg.startVM(ctx, o.Name, o.VM)
		return err
	})
	return res, err
}

// VMStop stops a VM: the guest powers off cleanly, or with Hard QEMU is terminated
// (`labsbx vm stop`). The disk is kept.
type VMStop struct {
	cfg      *Configuration
	Name, VM string
	Hard     bool
}

// NewVMStop prepares a stop.
func NewVMStop(cfg *Configuration) *VMStop { return &VMStop{cfg: cfg} }

// VMStopResult says whether the VM was running.
type VMStopResult struct {
	VM      string `json:"vm"`
	Stopped bool   `json:"stopped"`
}

// Run stops it.
func (o *VMStop) Run(ctx context.Context) (*VMStopResult, error) {
	res := &VMStopResult{VM: o.VM}
	err := o.cfg.progress().Step("Stopping VM "+o.VM, func() error {
		var err error
		res.Stopped, err = o.cfg.stopVM(ctx, o.Name, o.VM, o.Hard)
		return err
	})
	return res, err
}

// VMInventory writes the sandbox's access files (Ansible inventories, ssh_config,
// known_hosts) and renders one of them in Format (`labsbx vm inventory`).
type VMInventory struct {
	cfg    *Configuration
	Name   string
	Format string
}

// NewVMInventory prepares an inventory in YAML.
func NewVMInventory(cfg *Configuration) *VMInventory {
	return &VMInventory{cfg: cfg, Format: vm.FormatYAML}
}

// VMInventoryResult is every VM's host entry and the access files, and the rendered
// inventory (Text).
type VMInventoryResult struct {
	Hosts []vm.Host      `json:"hosts"`
	Files vm.AccessFiles `json:"files"`
	Text  string         `json:"-"`
}

// ErrBadFormat is returned for an inventory format labsbx does not write.
var ErrBadFormat = errors.New("unknown inventory format")

// Run writes and renders them.
func (o *VMInventory) Run() (*VMInventoryResult, error) {
	hosts, files, err := o.cfg.vmAccess(o.Name)
	if err != nil {
		return nil, err
	}
	if hosts == nil {
		hosts = []vm.Host{}
	}
	text, err := vm.RenderInventory(o.Format, o.Name, hosts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	return &VMInventoryResult{Hosts: hosts, Files: files, Text: text}, nil
}

// VMSSH is the ssh(1) command line into a running VM (`labsbx vm ssh`): the port comes
// from the guard-approved QEMU process itself, the host is always 127.0.0.1 and the
// VM's host key is pinned.
type VMSSH struct {
	cfg      *Configuration
	Name, VM string
}

// NewVMSSH prepares it.
func NewVMSSH(cfg *Configuration) *VMSSH { return &VMSSH{cfg: cfg} }

// Args returns ssh's arguments.
func (o *VMSSH) Args() ([]string, error) { return o.cfg.vmSSHArgs(o.Name, o.VM) }

// removeVMs stops every VM of the sandbox, and any VM directory a crashed run left
// unrecorded, and deletes their overlays: what down does before the state goes.
func removeVMs(ctx context.Context, cfg *Configuration, st *state.State) ([]string, error) {
	m := connect.New(st, cfg.Getenv).VMs(cfg.log())
	all := append([]state.VMState(nil), st.VMs...)
	for _, o := range m.Orphans(st.VMs) {
		all = append(all, state.VMState{Name: o})
	}
	var removed []string
	var errs []error
	for i := range all {
		if err := m.Remove(ctx, &all[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, all[i].Name)
	}
	return removed, errors.Join(errs...)
}
