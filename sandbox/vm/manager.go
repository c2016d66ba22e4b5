package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/arcodange/labsbx/internal/execx"
	"github.com/arcodange/labsbx/internal/netx"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/vmimages"
)

// Files of the sandbox's secrets dir (through Sandbox.SecretPath).
const (
	// ClientKeyFile is the per-sandbox SSH key that logs into every VM.
	ClientKeyFile = "vm-ssh-key"
)

// hostKeyFile is the VM's own SSH host key, which QEMU hands to the guest.
func hostKeyFile(vm string) string { return "vm-" + vm + "-host-key" }

// Files under <state dir>/vms/.
const (
	vmsDir         = "vms"
	pidFileName    = "qemu.pid"
	consoleLog     = "console.log"
	overlayName    = "overlay.qcow2"
	seedDir        = "seed"
	KnownHostsFile = "known_hosts"
)

// Sandbox is what the VMs need from their sandbox. Package sandbox builds it from its
// state; this package never reads the state file itself.
type Sandbox struct {
	// Record is what the guard trusts: name, UUID and state dir.
	Record guard.Record
	// SecretPath returns a guard-approved path in the sandbox's secrets dir.
	SecretPath func(file string) (guard.KeyPath, error)
	// Getenv reads LABSBX_VM_ACCEL (nil: nothing set).
	Getenv func(string) string
	Log    *slog.Logger
}

// State is what the sandbox state records about one VM.
type State struct {
	Name      string `json:"name"`
	SSHPort   int    `json:"sshPort"` // on 127.0.0.1
	User      string `json:"user"`
	CPUs      int    `json:"cpus"`
	MemoryMiB int    `json:"memoryMiB"`
	Image     string `json:"image"`    // the recipe
	ImageDir  string `json:"imageDir"` // the cached image the overlay is backed by
	// HostKey is the VM's public SSH host key, which every connection pins.
	HostKey   string    `json:"hostKey"`
	Accel     Accel     `json:"accel,omitempty"` // of the last start
	CreatedAt time.Time `json:"createdAt"`
}

// Spec is how a new VM is made.
type Spec struct {
	CPUs      int
	MemoryMiB int
	Image     *vmimages.Image
}

// Manager runs the VMs of one sandbox.
type Manager struct {
	sb Sandbox

	mu    sync.Mutex // guards seeds: WaitReady runs per VM in parallel
	seeds map[string]*seedServer
}

// New returns the manager of a sandbox's VMs.
func New(sb Sandbox) *Manager {
	if sb.Log == nil {
		sb.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{sb: sb, seeds: map[string]*seedServer{}}
}

// Name is the n-th VM's name.
func Name(n int) string { return "vm-" + strconv.Itoa(n) }

// Dir is a VM's directory: <state dir>/vms/<vm>.
func (m *Manager) Dir(vm string) string { return filepath.Join(m.sb.Record.StateDir, vmsDir, vm) }

// VMsDir is <state dir>/vms.
func (m *Manager) VMsDir() string { return filepath.Join(m.sb.Record.StateDir, vmsDir) }

// PIDFile is where QEMU writes the VM's PID.
func (m *Manager) PIDFile(vm string) string { return filepath.Join(m.Dir(vm), pidFileName) }

// ConsoleLog is the guest's serial console of the current (or last) boot.
func (m *Manager) ConsoleLog(vm string) string { return filepath.Join(m.Dir(vm), consoleLog) }

// ClientKey is the guarded path of the sandbox's SSH key.
func (m *Manager) ClientKey() (guard.KeyPath, error) { return m.sb.SecretPath(ClientKeyFile) }

// Create records a new VM: a free port, a fresh host key and an overlay on the image.
// The caller saves the state before it starts the VM, so that a resumed up reuses them.
func (m *Manager) Create(ctx context.Context, name string, spec Spec) (*State, error) {
	port, err := netx.FreePort()
	if err != nil {
		return nil, err
	}
	st := &State{Name: name, SSHPort: port, User: spec.Image.User, CPUs: spec.CPUs, MemoryMiB: spec.MemoryMiB,
		Image: spec.Image.Recipe, ImageDir: spec.Image.Dir, CreatedAt: time.Now().UTC()}
	kp, err := m.sb.SecretPath(hostKeyFile(name))
	if err != nil {
		return nil, err
	}
	hk, err := loadOrCreateKey(kp, name)
	if err != nil {
		return nil, err
	}
	st.HostKey = authorizedLine(hk, "")
	if err := os.MkdirAll(m.Dir(name), 0o700); err != nil {
		return nil, err
	}
	return st, m.ensureOverlay(ctx, st, spec.Image)
}

// ensureOverlay creates the VM's copy-on-write overlay on the cached image.
func (m *Manager) ensureOverlay(ctx context.Context, st *State, img *vmimages.Image) error {
	ov := filepath.Join(m.Dir(st.Name), overlayName)
	if _, err := os.Stat(ov); err == nil {
		return nil
	}
	tmp := ov + ".tmp"
	_ = os.Remove(tmp)
	if _, err := execx.Run(ctx, guard.ScrubbedEnv(os.Environ()), nil, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
		"-b", img.Path(img.Disk), tmp, strconv.FormatInt(int64(img.DiskSize), 10)); err != nil {
		return fmt.Errorf("create the overlay of %s: %w", st.Name, err)
	}
	return os.Rename(tmp, ov)
}

// image opens the cached image the VM was created from.
func (m *Manager) image(st *State) (*vmimages.Image, error) {
	img, err := vmimages.Open(st.ImageDir)
	if err != nil {
		return nil, fmt.Errorf("VM %s: its image is gone from the cache (%w); run `labsbx down` and `labsbx up` to recreate the VM", st.Name, err)
	}
	return img, nil
}

// Process asks the guard for the VM's running QEMU. The error wraps
// guard.ErrVMNotRunning when it is stopped (or its PID now belongs to another process).
func (m *Manager) Process(st *State) (guard.VMProcess, error) {
	p, err := guard.ApproveVMProcess(m.sb.Record, st.Name, m.PIDFile(st.Name))
	if errors.Is(err, guard.ErrForeignProcess) {
		m.sb.Log.Warn("stale PID file: the PID belongs to another process, which is left alone", "vm", st.Name, "reason", err)
		return p, fmt.Errorf("VM %s: stale PID file: %w", st.Name, guard.ErrVMNotRunning)
	}
	return p, err
}

// Running reports whether the VM's QEMU runs. A refusal other than "not running" is an error.
func (m *Manager) Running(st *State) (bool, error) {
	_, err := m.Process(st)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, guard.ErrVMNotRunning):
		return false, nil
	}
	return false, err
}

// Start launches the VM on its overlay unless it runs already, and says whether it
// did. The SSH port recorded is reused; when something else took it, another free
// one is recorded instead. Call WaitReady next.
func (m *Manager) Start(ctx context.Context, st *State) (bool, error) {
	if ok, err := m.Running(st); err != nil || ok {
		return false, err
	}
	img, err := m.image(st)
	if err != nil {
		return false, err
	}
	if err := m.ensureOverlay(ctx, st, img); err != nil {
		return false, err
	}
	qemu, err := exec.LookPath(guard.QemuBinary)
	if err != nil {
		return false, fmt.Errorf("%s not found: apt-get install qemu-system-arm (macOS: brew install qemu)", guard.QemuBinary)
	}
	accel, why, err := HostAccel(m.sb.Getenv)
	if err != nil {
		return false, err
	}
	if !portFree(st.SSHPort) {
		old := st.SSHPort
		if st.SSHPort, err = netx.FreePort(); err != nil {
			return false, err
		}
		m.sb.Log.Warn("SSH port taken by another process; using a new one", "vm", st.Name, "old", old, "new", st.SSHPort)
	}
	l := Launch{Qemu: qemu, Name: guard.VMProcessName(m.sb.Record.UUID, st.Name), Accel: accel,
		CPUs: st.CPUs, MemoryMiB: st.MemoryMiB, Image: img, Overlay: filepath.Join(m.Dir(st.Name), overlayName),
		SSHPort: st.SSHPort, PIDFile: m.PIDFile(st.Name), ConsoleLog: m.ConsoleLog(st.Name)}
	if img.Firmware == vmimages.FirmwareUEFI {
		l.Firmware = FindUEFIFirmware(qemu)
	}
	switch img.FirstBoot {
	case vmimages.FirstBootFwCfg:
		if l.FwCfg, err = m.writeFwCfgSeed(st); err != nil {
			return false, err
		}
	case vmimages.FirstBootCloudInit:
		if l.SMBIOSSerial, err = m.startCloudInitSeed(st); err != nil {
			return false, err
		}
	}
	if err := l.Validate(); err != nil {
		return false, err
	}
	_ = os.Remove(l.PIDFile) // stale: its process is gone or not ours
	if _, err := os.Stat(l.ConsoleLog); err == nil {
		_ = os.Rename(l.ConsoleLog, l.ConsoleLog+".prev")
	}
	// QEMU creates the console log under the umask (0644 or 0640); made here first, it
	// stays private like the rest of the state, and no later load has to repair it.
	if f, err := os.OpenFile(l.ConsoleLog, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		_ = f.Close()
	}
	m.sb.Log.Info("starting VM", "vm", st.Name, "accel", accel, "why", why, "port", st.SSHPort)
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := execx.Run(lctx, guard.ScrubbedEnv(os.Environ()), nil, qemu, l.Args()...); err != nil {
		return false, fmt.Errorf("start VM %s: %w", st.Name, err)
	}
	st.Accel = accel
	if _, err := m.Process(st); err != nil {
		return false, fmt.Errorf("VM %s started but its process is not approved: %w", st.Name, err)
	}
	return true, nil
}

// writeFwCfgSeed writes the fw_cfg items labsbx-identity reads. The host key stays in
// the secrets dir; QEMU reads it from there at start.
func (m *Manager) writeFwCfgSeed(st *State) ([]FwCfgItem, error) {
	dir := filepath.Join(m.Dir(st.Name), seedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ck, err := m.ClientKey()
	if err != nil {
		return nil, err
	}
	signer, err := loadOrCreateKey(ck, "labsbx-"+m.sb.Record.Name)
	if err != nil {
		return nil, err
	}
	hk, err := m.sb.SecretPath(hostKeyFile(st.Name))
	if err != nil {
		return nil, err
	}
	if _, err := hk.ReadFile(); err != nil { // re-checks the path before QEMU opens it
		return nil, fmt.Errorf("VM %s host key: %w", st.Name, err)
	}
	items := map[string]string{
		"hostname":                 st.Name,
		"user":                     st.User,
		"authorized_keys":          authorizedLine(signer, "labsbx-"+m.sb.Record.Name),
		"ssh_host_ed25519_key.pub": st.HostKey,
	}
	var out []FwCfgItem
	for _, name := range []string{"hostname", "user", "authorized_keys", "ssh_host_ed25519_key.pub"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(items[name]), 0o600); err != nil {
			return nil, err
		}
		out = append(out, FwCfgItem{Name: vmimages.FwCfgNamespace + "/" + name, File: p})
	}
	out = append(out, FwCfgItem{Name: vmimages.FwCfgNamespace + "/ssh_host_ed25519_key", File: hk.Path()})
	return out, nil
}

// Stop ends the VM's QEMU: SIGTERM (QEMU closes its disks cleanly), then SIGKILL after
// grace, and waits until the process is gone. A stopped VM is left alone.
func (m *Manager) Stop(ctx context.Context, st *State, grace time.Duration) error {
	p, err := m.Process(st)
	if errors.Is(err, guard.ErrVMNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, guard.ErrVMNotRunning) {
		return err
	}
	if waitGone(ctx, p, grace) {
		return nil
	}
	m.sb.Log.Warn("VM did not stop on SIGTERM; killing it", "vm", st.Name, "grace", grace)
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, guard.ErrVMNotRunning) {
		return err
	}
	if !waitGone(ctx, p, 30*time.Second) {
		return fmt.Errorf("VM %s (pid %d) is still running after SIGKILL", st.Name, p.PID())
	}
	return nil
}

// Shutdown powers the guest off (systemctl poweroff over SSH) and waits for QEMU to
// exit, then falls back to Stop.
func (m *Manager) Shutdown(ctx context.Context, st *State, timeout time.Duration) error {
	p, err := m.Process(st)
	if errors.Is(err, guard.ErrVMNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, serr := m.Run(sctx, st, "sudo -n systemctl poweroff")
	cancel()
	if serr != nil {
		// The connection drops as the guest goes down; only a refusal to run matters.
		m.sb.Log.Info("poweroff over SSH", "vm", st.Name, "result", serr)
	}
	if waitGone(ctx, p, timeout) {
		return nil
	}
	return m.Stop(ctx, st, 10*time.Second)
}

// PowerCut kills the VM's QEMU with SIGKILL, as a power cut would: the guest gets no
// chance to flush anything. It waits until the process is gone, so that the port and
// the overlay are free for the next start.
func (m *Manager) PowerCut(ctx context.Context, st *State) error {
	p, err := m.Process(st)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !waitGone(ctx, p, 30*time.Second) {
		return fmt.Errorf("VM %s (pid %d) is still running after SIGKILL", st.Name, p.PID())
	}
	return nil
}

// Remove stops the VM and deletes its directory (overlay, seed, logs) and host key.
func (m *Manager) Remove(ctx context.Context, st *State) error {
	if err := m.Stop(ctx, st, 10*time.Second); err != nil {
		return err
	}
	m.stopSeed(st.Name)
	if err := os.RemoveAll(m.Dir(st.Name)); err != nil {
		return err
	}
	kp, err := m.sb.SecretPath(hostKeyFile(st.Name))
	if err != nil {
		return err
	}
	if p := kp.Path(); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Orphans lists VM directories under vms/ that the given states do not name: VMs a
// crashed run started before it recorded them. Down stops them too.
func (m *Manager) Orphans(known []State) []string {
	entries, _ := os.ReadDir(m.VMsDir())
	have := map[string]bool{}
	for _, s := range known {
		have[s.Name] = true
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !have[e.Name()] && strings.HasPrefix(e.Name(), "vm-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitGone polls until p is no longer the running VM, or timeout passes.
func waitGone(ctx context.Context, p guard.VMProcess, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for p.Running() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return !p.Running()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// hostKey parses the pinned host key.
func (st *State) hostKey() (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(st.HostKey))
	if err != nil {
		return nil, fmt.Errorf("VM %s: recorded host key: %w", st.Name, err)
	}
	return k, nil
}
