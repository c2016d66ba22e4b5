package vm

import (
	"strings"
	"testing"

	"github.com/arcodange/labsbx/internal/goldenfile"
	"github.com/arcodange/labsbx/vmimages"
)

func TestChooseAccel(t *testing.T) {
	for _, tc := range []struct {
		goos, goarch string
		kvm          bool
		want         Accel
		cpu          string
	}{
		{"darwin", "arm64", false, AccelHVF, "host"},
		{"darwin", "amd64", false, AccelTCG, "cortex-a72"},
		{"linux", "arm64", true, AccelKVM, "host"},
		{"linux", "arm64", false, AccelTCG, "cortex-a72"},
		{"linux", "amd64", true, AccelTCG, "cortex-a72"}, // /dev/kvm only helps x86 guests
		{"windows", "amd64", false, AccelTCG, "cortex-a72"},
	} {
		got, why := ChooseAccel(tc.goos, tc.goarch, tc.kvm)
		if got != tc.want || why == "" || got.cpuModel() != tc.cpu {
			t.Errorf("%s/%s kvm=%t: %s (%q, cpu %s), want %s (cpu %s)", tc.goos, tc.goarch, tc.kvm, got, why, got.cpuModel(), tc.want, tc.cpu)
		}
	}
}

func TestHostAccelOverride(t *testing.T) {
	a, why, err := HostAccel(func(k string) string { return map[string]string{EnvAccel: "tcg"}[k] })
	if err != nil || a != AccelTCG || !strings.Contains(why, EnvAccel) {
		t.Errorf("override: %s %q %v", a, why, err)
	}
	if _, _, err := HostAccel(func(string) string { return "xen" }); err == nil {
		t.Error("an unknown accelerator was accepted")
	}
}

func testLaunch(img *vmimages.Image, accel Accel) Launch {
	return Launch{
		Qemu: "/usr/bin/qemu-system-aarch64", Name: "labsbx-0b6c2f9e-8d7a-4c55-9a51-2f0b7c1d4e3a-vm-0", Accel: accel,
		CPUs: 2, MemoryMiB: 1024, Image: img, Firmware: "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
		Overlay: "/state/demo/vms/vm-0/overlay.qcow2", SSHPort: 40022,
		FwCfg: []FwCfgItem{
			{Name: "opt/dev.labsbx/hostname", File: "/state/demo/vms/vm-0/seed/hostname"},
			{Name: "opt/dev.labsbx/ssh_host_ed25519_key", File: "/state/demo/secrets/vm-vm-0-host-key"},
		},
		PIDFile: "/state/demo/vms/vm-0/qemu.pid", ConsoleLog: "/state/demo/vms/vm-0/console.log",
	}
}

var (
	localImage = &vmimages.Image{Recipe: "debian-12-arm64", Dir: "/cache/vmimages/debian-12-arm64-0123456789abcdef",
		Disk: "disk.qcow2", Kernel: "vmlinuz", Initrd: "initrd.img", Append: "root=/dev/vda rw console=ttyAMA0 net.ifnames=0",
		FirstBoot: vmimages.FirstBootFwCfg, User: "labsbx", DiskSize: 4 << 30}
	cloudImage = &vmimages.Image{Recipe: "debian-12-arm64", Dir: "/cache/vmimages/debian-12-arm64-fedcba9876543210",
		Disk: "disk.qcow2", Firmware: vmimages.FirmwareUEFI, FirstBoot: vmimages.FirstBootCloudInit, User: "labsbx", DiskSize: 8 << 30}
)

func TestLaunchArgs(t *testing.T) {
	l := testLaunch(localImage, AccelTCG)
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	goldenfile.Assert(t, "qemu-args-direct-tcg.golden", []byte(strings.Join(l.Args(), "\n")+"\n"))

	c := testLaunch(cloudImage, AccelHVF)
	c.FwCfg = nil
	c.SMBIOSSerial = "ds=nocloud-net;s=http://10.0.2.2:41234/0123abcd/"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	goldenfile.Assert(t, "qemu-args-uefi-hvf.golden", []byte(strings.Join(c.Args(), "\n")+"\n"))
}

func TestLaunchValidate(t *testing.T) {
	for name, mut := range map[string]func(*Launch){
		"no firmware":    func(l *Launch) { l.Image = cloudImage; l.Firmware = "" },
		"bad port":       func(l *Launch) { l.SSHPort = 0 },
		"tiny memory":    func(l *Launch) { l.MemoryMiB = 64 },
		"fw_cfg outside": func(l *Launch) { l.FwCfg = []FwCfgItem{{Name: "etc/labsbx", File: "/x"}} },
	} {
		l := testLaunch(localImage, AccelTCG)
		mut(&l)
		if err := l.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	l := testLaunch(localImage, AccelTCG)
	l.Overlay = "/odd,path/overlay.qcow2"
	if args := strings.Join(l.Args(), " "); !strings.Contains(args, "file=/odd,,path/overlay.qcow2") {
		t.Errorf("comma not escaped: %s", args)
	}
}

func testHosts() []Host {
	return []Host{
		{Name: "vm-0", Host: "127.0.0.1", Port: 40022, User: "labsbx", KeyFile: "/state/demo/secrets/vm-ssh-key", KnownHosts: "/state/demo/vms/known_hosts"},
		{Name: "vm-1", Host: "127.0.0.1", Port: 40023, User: "labsbx", KeyFile: "/state with space/demo/secrets/vm-ssh-key", KnownHosts: "/state with space/demo/vms/known_hosts"},
	}
}

func TestRenderInventory(t *testing.T) {
	for _, f := range Formats {
		got, err := RenderInventory(f, "demo", testHosts())
		if err != nil {
			t.Fatal(err)
		}
		goldenfile.Assert(t, "inventory."+f+".golden", []byte(got))
	}
	if _, err := RenderInventory("toml", "demo", nil); err == nil {
		t.Error("unknown format accepted")
	}
	empty, err := RenderInventory(FormatYAML, "demo", nil)
	if err != nil || !strings.Contains(empty, "hosts:\n    {}") {
		t.Errorf("empty inventory: %q %v", empty, err)
	}
}

func TestKnownHostsAndSSHArgs(t *testing.T) {
	kh := KnownHosts([]State{{Name: "vm-0", SSHPort: 40022, HostKey: "ssh-ed25519 AAAAC3Nza vm-0\n"}})
	if kh != "[127.0.0.1]:40022 ssh-ed25519 AAAAC3Nza vm-0\n" {
		t.Errorf("known_hosts: %q", kh)
	}
	args := strings.Join(SSHArgs(testHosts()[0]), " ")
	for _, want := range []string{"-F none", "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "-p 40022", "labsbx@127.0.0.1", "-i /state/demo/secrets/vm-ssh-key"} {
		if !strings.Contains(args, want) {
			t.Errorf("ssh args %q lack %q", args, want)
		}
	}
}

func TestCloudInitUserData(t *testing.T) {
	got := CloudInitUserData("vm-0", "labsbx", "ssh-ed25519 AAAAclient labsbx-demo\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAhostkeyfake\n-----END OPENSSH PRIVATE KEY-----\n", "ssh-ed25519 AAAAhost\n")
	goldenfile.Assert(t, "cloud-init-user-data.golden", []byte(got))
}

func TestKeyPair(t *testing.T) {
	k, err := NewKeyPair("labsbx-demo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Public, "ssh-ed25519 ") || !strings.HasSuffix(k.Public, " labsbx-demo\n") ||
		!strings.Contains(string(k.PrivatePEM), "OPENSSH PRIVATE KEY") {
		t.Errorf("key pair: %q", k.Public)
	}
	if strings.Contains(k.String(), "PRIVATE") {
		t.Error("String() shows the key")
	}
}
