// Package vm runs the sandbox's arm64 VMs: each is a qemu-system-aarch64 process that
// labsbx starts daemonized on a copy-on-write overlay of a cached image (vmimages),
// with its PID file, console log and first-boot seed under <state dir>/vms/<vm>/.
//
// Networking is QEMU's user-mode stack only, with the guest's SSH forwarded on
// 127.0.0.1:<port>: no tap, no bridge, nothing on the user's LAN. The VM's identity
// (hostname, login user, the sandbox's SSH key and the VM's own SSH host key, which
// labsbx generates and pins) reaches the guest through QEMU's fw_cfg, or through
// cloud-init for the downloaded cloud image. Every signal to a VM process goes
// through guard.ApproveVMProcess.
package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/vmimages"
)

// Accel is a QEMU accelerator.
type Accel string

const (
	AccelHVF Accel = "hvf" // macOS on Apple silicon: the guest runs natively
	AccelKVM Accel = "kvm" // Linux on arm64 with /dev/kvm
	AccelTCG Accel = "tcg" // emulation: every other host
)

// EnvAccel forces the accelerator (hvf, kvm or tcg).
const EnvAccel = "LABSBX_VM_ACCEL"

// ChooseAccel picks the accelerator for a host and says why. An arm64 guest runs
// natively only on an arm64 host: with HVF on macOS and KVM on Linux (when /dev/kvm
// can be opened). On x86 hosts /dev/kvm exists but only accelerates x86 guests.
func ChooseAccel(goos, goarch string, kvmUsable bool) (Accel, string) {
	switch {
	case goos == "darwin" && goarch == "arm64":
		return AccelHVF, "macOS on arm64: Hypervisor.framework"
	case goos == "linux" && goarch == "arm64" && kvmUsable:
		return AccelKVM, "Linux on arm64 with /dev/kvm"
	case goos == "linux" && goarch == "arm64":
		return AccelTCG, "Linux on arm64 without a usable /dev/kvm: emulated"
	}
	return AccelTCG, fmt.Sprintf("%s/%s host: an arm64 guest is emulated", goos, goarch)
}

// HostAccel picks the accelerator of this host, or the one LABSBX_VM_ACCEL forces.
func HostAccel(getenv func(string) string) (Accel, string, error) {
	if getenv != nil {
		switch v := Accel(getenv(EnvAccel)); v {
		case "":
		case AccelHVF, AccelKVM, AccelTCG:
			return v, EnvAccel + "=" + string(v), nil
		default:
			return "", "", fmt.Errorf("%s=%q: use hvf, kvm or tcg", EnvAccel, v)
		}
	}
	kvm := false
	if runtime.GOOS == "linux" {
		if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
			kvm = true
			f.Close()
		}
	}
	a, why := ChooseAccel(runtime.GOOS, runtime.GOARCH, kvm)
	return a, why, nil
}

// cpuModel: a native guest uses the host's CPU. Under TCG, cortex-a72 (the Raspberry
// Pi 4's core) boots in about 15 s here; "max" takes 32 s because of pointer
// authentication emulation.
func (a Accel) cpuModel() string {
	if a == AccelTCG {
		return "cortex-a72"
	}
	return "host"
}

// FwCfgItem is one -fw_cfg file, visible in the guest at
// /sys/firmware/qemu_fw_cfg/by_name/<Name>/raw.
type FwCfgItem struct {
	Name string
	File string
}

// Launch is everything one QEMU start needs.
type Launch struct {
	Qemu      string // the qemu-system-aarch64 binary
	Name      string // -name: guard.VMProcessName(uuid, vm)
	Accel     Accel
	CPUs      int
	MemoryMiB int
	Image     *vmimages.Image
	// Firmware is the UEFI code image, for images that boot with UEFI.
	Firmware string
	Overlay  string
	SSHPort  int
	FwCfg    []FwCfgItem
	// SMBIOSSerial carries cloud-init's NoCloud seed URL ("ds=nocloud-net;s=…").
	SMBIOSSerial string
	PIDFile      string
	ConsoleLog   string
}

// Args is the QEMU command line (without the binary). QEMU daemonizes once the
// machine is set up, so a bad option or a taken port fails the start itself, and
// writes its PID file; the guest's console goes to ConsoleLog.
func (l Launch) Args() []string {
	args := []string{
		"-name", l.Name,
		"-machine", "virt",
		"-accel", string(l.Accel),
		"-cpu", l.Accel.cpuModel(),
		"-smp", strconv.Itoa(l.CPUs),
		"-m", strconv.Itoa(l.MemoryMiB),
		"-nodefaults", "-display", "none", "-monitor", "none",
		"-serial", "file:" + l.ConsoleLog,
	}
	if l.Image.Firmware == vmimages.FirmwareUEFI {
		args = append(args, "-bios", l.Firmware)
	} else {
		args = append(args,
			"-kernel", l.Image.Path(l.Image.Kernel),
			"-initrd", l.Image.Path(l.Image.Initrd),
			"-append", l.Image.Append)
	}
	args = append(args,
		"-drive", "if=none,id=disk0,format=qcow2,file="+qemuOptValue(l.Overlay),
		"-device", "virtio-blk-pci,drive=disk0",
		// User-mode networking only: the guest reaches out through QEMU's NAT like any
		// host process, and nothing reaches in but SSH on the loopback address.
		"-netdev", fmt.Sprintf("user,id=net0,hostfwd=tcp:127.0.0.1:%d-:22", l.SSHPort),
		"-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-rng-pci",
	)
	for _, it := range l.FwCfg {
		args = append(args, "-fw_cfg", "name="+it.Name+",file="+qemuOptValue(it.File))
	}
	if l.SMBIOSSerial != "" {
		args = append(args, "-smbios", "type=1,serial="+qemuOptValue(l.SMBIOSSerial))
	}
	return append(args, "-pidfile", l.PIDFile, "-daemonize")
}

// Validate checks a launch before QEMU runs: the guard's network rule, and values
// that would otherwise fail deep inside QEMU.
func (l Launch) Validate() error {
	if l.CPUs < 1 || l.MemoryMiB < 256 || l.SSHPort < 1 || l.SSHPort > 65535 {
		return fmt.Errorf("VM %s: invalid cpus %d, memory %d MiB or port %d", l.Name, l.CPUs, l.MemoryMiB, l.SSHPort)
	}
	if l.Image.Firmware == vmimages.FirmwareUEFI && l.Firmware == "" {
		return fmt.Errorf("VM %s: image %s boots with UEFI and no UEFI firmware was found (Debian: apt-get install qemu-efi-aarch64; macOS: brew install qemu)", l.Name, l.Image.Recipe)
	}
	for _, it := range l.FwCfg {
		if len(it.Name) > 55 || !strings.HasPrefix(it.Name, "opt/") {
			return fmt.Errorf("fw_cfg name %q: must start with opt/ and be at most 55 bytes", it.Name)
		}
	}
	return guard.VMNetworkIsolated(append([]string{l.Qemu}, l.Args()...))
}

// qemuOptValue escapes a value inside a QEMU option list: a comma is doubled.
func qemuOptValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// FindUEFIFirmware looks for the aarch64 UEFI code image: Debian's qemu-efi-aarch64,
// or the edk2 image that Homebrew's qemu installs beside the binary.
func FindUEFIFirmware(qemu string) string {
	candidates := []string{
		"/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
		"/usr/share/AAVMF/AAVMF_CODE.fd",
	}
	if qemu != "" {
		if p, err := filepath.EvalSymlinks(qemu); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(p), "..", "share", "qemu", "edk2-aarch64-code.fd"))
		}
	}
	candidates = append(candidates, "/opt/homebrew/share/qemu/edk2-aarch64-code.fd", "/usr/local/share/qemu/edk2-aarch64-code.fd")
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return filepath.Clean(c)
		}
	}
	return ""
}
