package guard

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const vmUUID = "0b6c2f9e-8d7a-4c55-9a51-2f0b7c1d4e3a"

func vmRecord(t *testing.T) Record {
	return Record{Name: "demo", UUID: vmUUID, StateDir: t.TempDir()}
}

func ourArgv(port string) []string {
	return []string{"/usr/bin/qemu-system-aarch64", "-name", VMProcessName(vmUUID, "vm-0"), "-machine", "virt",
		"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:" + port + "-:22", "-device", "virtio-net-pci,netdev=net0"}
}

// fakeProc replaces readProc for one test.
func fakeProc(t *testing.T, fn func(pid int) (procInfo, error)) {
	old := readProc
	readProc = fn
	t.Cleanup(func() { readProc = old })
}

func writePID(t *testing.T, path string, pid string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(pid+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestApproveVMProcess(t *testing.T) {
	uid := os.Getuid()
	for _, tc := range []struct {
		name    string
		pid     string // "" writes no PID file
		info    procInfo
		gone    bool
		outside bool
		want    string // "" approved; "not running"; else a refusal substring
		foreign bool
	}{
		{name: "ours", pid: "4242", info: procInfo{argv: ourArgv("40022"), uid: uid}},
		{name: "no pid file", want: "not running"},
		{name: "exited", pid: "4242", gone: true, want: "not running"},
		{name: "zombie", pid: "4242", info: procInfo{argv: ourArgv("40022"), uid: uid, zombie: true}, want: "not running"},
		{name: "pid reused by a shell", pid: "4242", info: procInfo{argv: []string{"/bin/bash"}, uid: uid}, want: "not qemu-system-aarch64", foreign: true},
		{name: "another sandbox's VM", pid: "4242", info: procInfo{argv: []string{"/usr/bin/qemu-system-aarch64", "-name", "labsbx-other-vm-0"}, uid: uid}, want: `its -name is "labsbx-other-vm-0"`, foreign: true},
		{name: "a qemu without -name", pid: "4242", info: procInfo{argv: []string{"qemu-system-aarch64", "-m", "1024"}, uid: uid}, want: "no -name", foreign: true},
		{name: "another user", pid: "4242", info: procInfo{argv: ourArgv("40022"), uid: uid + 1}, want: "runs as uid", foreign: true},
		{name: "bridged", pid: "4242", info: procInfo{argv: append(ourArgv("40022"), "-netdev", "bridge,id=lan,br=br0"), uid: uid}, want: "only user-mode"},
		{name: "forward on every address", pid: "4242", info: procInfo{argv: []string{"qemu-system-aarch64", "-name", VMProcessName(vmUUID, "vm-0"), "-netdev", "user,id=n,hostfwd=tcp::2222-:22"}, uid: uid}, want: "only hostfwd=tcp:127.0.0.1"},
		{name: "pid 1", pid: "1", want: "does not hold a process ID"},
		{name: "garbage", pid: "12; rm -rf /", want: "does not hold a process ID"},
		{name: "pid file outside the state dir", pid: "4242", outside: true, want: "not inside the state dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := vmRecord(t)
			pidFile := filepath.Join(rec.StateDir, "vms", "vm-0", "qemu.pid")
			if tc.outside {
				pidFile = filepath.Join(t.TempDir(), "qemu.pid")
			}
			if tc.pid != "" {
				writePID(t, pidFile, tc.pid)
			}
			fakeProc(t, func(int) (procInfo, error) {
				if tc.gone {
					return procInfo{}, ErrVMNotRunning
				}
				return tc.info, nil
			})
			p, err := ApproveVMProcess(rec, "vm-0", pidFile)
			switch {
			case tc.want == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if addr, err := p.SSHAddr(); err != nil || addr != "127.0.0.1:40022" {
					t.Errorf("SSHAddr: %q %v", addr, err)
				}
			case tc.want == "not running":
				if !errors.Is(err, ErrVMNotRunning) || errors.Is(err, ErrRefused) {
					t.Fatalf("want not running (no refusal), got %v", err)
				}
			default:
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want a refusal with %q, got %v", tc.want, err)
				}
				if errors.Is(err, ErrForeignProcess) != tc.foreign {
					t.Errorf("ErrForeignProcess: %t, want %t", errors.Is(err, ErrForeignProcess), tc.foreign)
				}
			}
		})
	}
}

func TestApproveVMProcessSymlinkedPIDFile(t *testing.T) {
	rec := vmRecord(t)
	outside := filepath.Join(t.TempDir(), "qemu.pid")
	writePID(t, outside, "4242")
	link := filepath.Join(rec.StateDir, "vms", "vm-0", "qemu.pid")
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	fakeProc(t, func(int) (procInfo, error) { return procInfo{argv: ourArgv("1"), uid: os.Getuid()}, nil })
	if _, err := ApproveVMProcess(rec, "vm-0", link); !errors.Is(err, ErrRefused) {
		t.Fatalf("a symlinked PID file was approved: %v", err)
	}
}

// TestApproveVMProcessRealProcess reads a real process: a sleep is never a VM, and
// once it exits the VM is "not running".
func TestApproveVMProcessRealProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	rec := vmRecord(t)
	pidFile := filepath.Join(rec.StateDir, "vms", "vm-0", "qemu.pid")
	writePID(t, pidFile, strconv.Itoa(cmd.Process.Pid))
	_, err := ApproveVMProcess(rec, "vm-0", pidFile)
	if !errors.Is(err, ErrForeignProcess) {
		t.Errorf("sleep approved as a VM: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if _, err := ApproveVMProcess(rec, "vm-0", pidFile); !errors.Is(err, ErrVMNotRunning) {
		t.Errorf("after exit: %v", err)
	}
	var zero VMProcess
	if err := zero.Signal(syscall.SIGTERM); !errors.Is(err, ErrRefused) || zero.Running() || zero.PID() != 0 {
		t.Errorf("zero VMProcess: %v", err)
	}
}

func TestVMNetworkIsolated(t *testing.T) {
	base := []string{"qemu-system-aarch64", "-name", "x"}
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"}, true},
		{[]string{"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"}, true},
		{nil, true},
		{[]string{"-netdev", "tap,id=t0,ifname=tap0"}, false},
		{[]string{"-netdev", "bridge,id=b0,br=br0"}, false},
		{[]string{"-netdev", "vmnet-bridged,id=v,ifname=en0"}, false},
		{[]string{"-netdev", "socket,id=s,listen=:1234"}, false},
		{[]string{"-nic", "user"}, false},
		{[]string{"-net", "nic"}, false},
		{[]string{"-netdev", "user,id=n,hostfwd=tcp:0.0.0.0:2222-:22"}, false},
		{[]string{"-netdev", "user,id=n,hostfwd=udp:127.0.0.1:53-:53"}, false},
		{[]string{"-netdev", "user,id=n,guestfwd=tcp:10.0.2.100:80-cmd:nc lan 80"}, false},
		{[]string{"-netdev", "user,id=n,smb=/home"}, false},
		{[]string{"-netdev"}, false},
	} {
		err := VMNetworkIsolated(append(append([]string{}, base...), tc.args...))
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v, want ok=%t", tc.args, err, tc.ok)
		}
	}
}
