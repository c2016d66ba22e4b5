package guard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// QemuBinary is the only program a sandbox VM process may be.
const QemuBinary = "qemu-system-aarch64"

// VMProcessName is the -name labsbx gives a VM's QEMU: unique to the sandbox (its
// UUID) and the VM, so a QEMU of anyone else never matches it.
func VMProcessName(uuid, vm string) string { return "labsbx-" + uuid + "-" + vm }

// ErrVMNotRunning means the VM has no live process: no PID file, or its PID is gone.
// It is not a refusal: the VM is simply stopped.
var ErrVMNotRunning = errors.New("VM is not running")

// ErrForeignProcess is the cause of a refusal to touch a PID whose process is not the
// recorded VM (a stale PID file whose number was reused). Callers that only ask
// whether the VM runs may treat it as "stopped"; nothing may signal that process.
var ErrForeignProcess = errors.New("the process is not this VM")

// VMProcess is the guard's approval to signal one running VM process of a sandbox.
// It can only be obtained from ApproveVMProcess; its zero value refuses. Signal checks
// the process's identity again right before it sends anything.
type VMProcess struct {
	st *vmRun
}

// procInfo is what the guard reads about a process.
type procInfo struct {
	argv   []string
	uid    int
	zombie bool
}

// readProc reads a process's command line, owner and state; it returns
// ErrVMNotRunning when there is no such process. Replaced in tests.
var readProc = readProcOS

type vmRun struct {
	rec     Record
	vm      string
	pidFile string
	pid     int
	info    procInfo
}

// ApproveVMProcess approves signalling the QEMU process whose PID is in pidFile as
// VM vm of the sandbox rec. It returns an error wrapping ErrVMNotRunning when the VM
// has no live process, and a refusal when the PID file is not in the sandbox's state
// dir or the process is not that VM's QEMU (wrapping ErrForeignProcess).
func ApproveVMProcess(rec Record, vm, pidFile string) (VMProcess, error) {
	r, _, err := approveVMProcess(rec, vm, pidFile)
	if err != nil {
		return VMProcess{}, err
	}
	return VMProcess{st: r}, nil
}

func approveVMProcess(rec Record, vm, pidFile string) (*vmRun, Report, error) {
	r := &vmRun{rec: rec, vm: vm, pidFile: pidFile}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	err := runSteps(&rep, fmt.Sprintf("VM %s of sandbox %s", vm, rec.Name), vmChecks, r)
	var ref *Refusal
	if errors.As(err, &ref) && errors.Is(ref.Err, ErrVMNotRunning) {
		return r, rep, fmt.Errorf("VM %s of sandbox %s: %w", vm, rec.Name, ErrVMNotRunning)
	}
	return r, rep, err
}

func (r *vmRun) record() (string, error) {
	if !validName(r.rec.Name) || r.rec.UUID == "" || !isASCIIPrintable(r.rec.UUID) {
		return "", refusef("sandbox %q has no valid name and UUID recorded", r.rec.Name)
	}
	if !validName(r.vm) {
		return "", refusef("%q is not a VM name labsbx gives", r.vm)
	}
	if sd := r.rec.StateDir; sd == "" || !filepath.IsAbs(sd) || hasDotDot(sd) {
		return "", refusef("sandbox %q has no absolute state dir recorded", r.rec.Name)
	}
	return VMProcessName(r.rec.UUID, r.vm), nil
}

func (r *vmRun) pidFileInState() (string, error) {
	p := r.pidFile
	if !filepath.IsAbs(p) || hasDotDot(p) {
		return "", refusef("PID file %q is not an absolute path without '..'", p)
	}
	state := filepath.Clean(r.rec.StateDir)
	if !within(filepath.Clean(p), state) {
		return "", refusef("PID file %q is not inside the state dir %s of sandbox %q", p, state, r.rec.Name)
	}
	stateRes, err := filepath.EvalSymlinks(state)
	if err != nil {
		return "", refusef("state dir %q: %w", state, err)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", &Refusal{Reason: "no PID file", Err: ErrVMNotRunning}
	}
	if err != nil {
		return "", refusef("PID file %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return "", refusef("PID file %q is not a regular file (%s)", p, fi.Mode().Type())
	}
	res, err := filepath.EvalSymlinks(p)
	if err != nil || !within(res, stateRes) {
		return "", refusef("PID file %q resolves outside the state dir %s", p, stateRes)
	}
	b, err := readRegularFile(p, 64)
	if err != nil {
		return "", refusef("PID file %q: %w", p, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return "", refusef("PID file %q does not hold a process ID", p)
	}
	r.pid = pid
	return "pid " + strconv.Itoa(pid), nil
}

func (r *vmRun) alive() (string, error) {
	info, err := readProc(r.pid)
	if errors.Is(err, ErrVMNotRunning) {
		return "", &Refusal{Reason: fmt.Sprintf("pid %d has exited", r.pid), Err: ErrVMNotRunning}
	}
	if err != nil {
		return "", refusef("pid %d: %w", r.pid, err)
	}
	if info.zombie {
		return "", &Refusal{Reason: fmt.Sprintf("pid %d has exited (zombie)", r.pid), Err: ErrVMNotRunning}
	}
	r.info = info
	return "alive", nil
}

func (r *vmRun) identity() (string, error) {
	want := VMProcessName(r.rec.UUID, r.vm)
	if err := matchVMArgv(r.info.argv, want); err != nil {
		return "", &Refusal{Reason: fmt.Sprintf("pid %d is not VM %s of sandbox %q: %v", r.pid, r.vm, r.rec.Name, err), Err: ErrForeignProcess}
	}
	if uid := os.Getuid(); uid >= 0 && r.info.uid != uid {
		return "", &Refusal{Reason: fmt.Sprintf("pid %d runs as uid %d, not as this user (%d)", r.pid, r.info.uid, uid), Err: ErrForeignProcess}
	}
	return QemuBinary + " -name " + want, nil
}

func (r *vmRun) network() (string, error) {
	if err := VMNetworkIsolated(r.info.argv); err != nil {
		return "", refusef("pid %d: %w", r.pid, err)
	}
	return "user-mode network, SSH forwarded on 127.0.0.1 only", nil
}

// matchVMArgv checks that argv is qemu-system-aarch64 run with -name want.
func matchVMArgv(argv []string, want string) error {
	if len(argv) == 0 {
		return errors.New("no command line")
	}
	if filepath.Base(argv[0]) != QemuBinary {
		return fmt.Errorf("it runs %q, not %s", filepath.Base(argv[0]), QemuBinary)
	}
	for i := 1; i+1 < len(argv); i++ {
		if argv[i] == "-name" {
			if argv[i+1] == want {
				return nil
			}
			return fmt.Errorf("its -name is %q", argv[i+1])
		}
	}
	return errors.New("it has no -name")
}

// hostfwdRE is the only port forward a sandbox VM may have: host 127.0.0.1 to a guest port.
var hostfwdRE = regexp.MustCompile(`^hostfwd=tcp:127\.0\.0\.1:[0-9]{1,5}-:[0-9]{1,5}$`)

// VMNetworkIsolated checks a QEMU command line: its only network is QEMU's user-mode
// stack, whose only forward is on 127.0.0.1. No tap, bridge, vmnet, socket or
// -nic/-net shortcut, so a VM never gets a bridge onto the user's LAN and no port of
// it is reachable from another machine.
func VMNetworkIsolated(argv []string) error {
	for i := 1; i < len(argv); i++ {
		switch a := argv[i]; a {
		case "-nic", "-net":
			return fmt.Errorf("%s is not allowed: give the network as -netdev user", a)
		case "-netdev":
			if i+1 >= len(argv) {
				return errors.New("-netdev without a value")
			}
			opts := strings.Split(argv[i+1], ",")
			if opts[0] != "user" {
				return fmt.Errorf("-netdev %s: only user-mode networking is allowed", opts[0])
			}
			for _, o := range opts[1:] {
				k, _, _ := strings.Cut(o, "=")
				switch {
				case k == "id" || k == "restrict" || k == "ipv6" && strings.HasSuffix(o, "=off"):
				case k == "hostfwd":
					if !hostfwdRE.MatchString(o) {
						return fmt.Errorf("-netdev %s: only hostfwd=tcp:127.0.0.1:<port>-:<port> is allowed", o)
					}
				default:
					return fmt.Errorf("-netdev option %q is not allowed", o)
				}
			}
			i++
		}
	}
	return nil
}

// PID is the approved process ID (0 for a zero value).
func (p VMProcess) PID() int {
	if p.st == nil {
		return 0
	}
	return p.st.pid
}

// Signal re-checks that the PID is still the VM's QEMU, then sends sig.
func (p VMProcess) Signal(sig syscall.Signal) error {
	if p.st == nil {
		return zeroRefusal("VMProcess")
	}
	r, _, err := approveVMProcess(p.st.rec, p.st.vm, p.st.pidFile)
	if err != nil {
		return err
	}
	if r.pid != p.st.pid {
		return refusef("PID file %q changed from %d to %d since approval", p.st.pidFile, p.st.pid, r.pid)
	}
	if err := killPID(r.pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pid %d: %w", r.pid, ErrVMNotRunning)
		}
		return fmt.Errorf("signal pid %d: %w", r.pid, err)
	}
	return nil
}

// Running reports whether the approved process is still the VM's live QEMU.
func (p VMProcess) Running() bool {
	if p.st == nil {
		return false
	}
	info, err := readProc(p.st.pid)
	return err == nil && !info.zombie && matchVMArgv(info.argv, VMProcessName(p.st.rec.UUID, p.st.vm)) == nil
}

// SSHAddr is the loopback address that the approved VM process forwards to the
// guest's SSH port, read from the process's own command line: what labsbx dials is
// what this VM's QEMU listens on, never a port number taken on trust.
func (p VMProcess) SSHAddr() (string, error) {
	if p.st == nil {
		return "", zeroRefusal("VMProcess")
	}
	argv := p.st.info.argv
	for i := 1; i+1 < len(argv); i++ {
		if argv[i] != "-netdev" {
			continue
		}
		for _, o := range strings.Split(argv[i+1], ",") {
			if hostfwdRE.MatchString(o) && strings.HasSuffix(o, "-:22") {
				port := strings.TrimSuffix(strings.TrimPrefix(o, "hostfwd=tcp:127.0.0.1:"), "-:22")
				return "127.0.0.1:" + port, nil
			}
		}
	}
	return "", refusef("pid %d forwards no host port to the guest's SSH", p.st.pid)
}
