package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/scenarios/report"
	"github.com/arcodange/labsbx/vmimages"
)

// TestE2EVMs runs a vault-profile sandbox with one arm64 VM through the binary: up,
// ssh, the inventory with plain ssh and Ansible, the vm-node-loss drill (a power cut
// and a reboot), a file that survives it, and down, which leaves no QEMU behind. Under
// TCG each boot takes about 8-12 s.
func TestE2EVMs(t *testing.T) {
	for _, tool := range []string{"qemu-system-aarch64", "qemu-img", "ssh", "ansible"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Require(t, tool, "apt-get install qemu-system-arm qemu-utils openssh-client ansible-core")
		}
	}
	cache, err := vmimages.CacheRoot(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	src, err := vmimages.SourceAuto.Resolve(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vmimages.Find(cache, "debian-12-arm64", src); err != nil {
		testenv.Require(t, "the debian-12-arm64 VM image ("+err.Error()+")", "go tool task vmimage")
	}
	c := newLocalImagesCLI(t)
	c.env["LABSBX_CACHE_DIR"] = cache
	name := sandboxName("e2evm")
	t.Cleanup(func() { c.run("down", "--name", name) })

	t0 := time.Now()
	var up struct {
		UUID string `json:"uuid"`
		VMs  []struct {
			Name, SSH, User, Accel string
			ReadyMs                int64
		} `json:"vms"`
	}
	r := c.json(&up, "up", "--profile", "vault", "--vms", "1", "--name", name)
	if len(up.VMs) != 1 || up.VMs[0].Name != "vm-0" || !strings.HasPrefix(up.VMs[0].SSH, "127.0.0.1:") {
		t.Fatalf("up --vms 1: %+v", up)
	}
	if !strings.Contains(r.stderr, "acceleration") {
		t.Errorf("up did not print the accelerator it chose:\n%s", r.stderr)
	}
	t.Logf("up --vms 1: %s (VM %s ready after %d ms, %s)", time.Since(t0).Round(time.Second), up.VMs[0].Name, up.VMs[0].ReadyMs, up.VMs[0].Accel)

	// Power cuts at once after up (what the first boot wrote may not be on disk yet),
	// and 1, 3 and 5 s into a boot (in the kernel, the initramfs or systemd's first
	// units, the identity's writes): each next start becomes ready, with the identity.
	c.ok("vm", "stop", "vm-0", "--hard", "--name", name)
	t1 := time.Now()
	if r := c.ok("vm", "start", "vm-0", "--name", name); strings.Contains(r.stderr, "repaired the mode") {
		t.Errorf("vm start found a file of its own with a loosened mode:\n%s", r.stderr)
	}
	t.Logf("vm start after a power cut right after up: %s", time.Since(t1).Round(100*time.Millisecond))
	for _, after := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		start := c.command("vm", "stop", "vm-0", "--hard", "--name", name)
		if out, err := start.CombinedOutput(); err != nil {
			t.Fatalf("vm stop --hard: %v\n%s", err, out)
		}
		boot := c.command("vm", "start", "vm-0", "--name", name)
		if err := boot.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		c.ok("vm", "stop", "vm-0", "--hard", "--name", name)
		_ = boot.Wait()
		t1 := time.Now()
		c.ok("vm", "start", "vm-0", "--name", name)
		t.Logf("vm start after a power cut %s into a boot: %s", after, time.Since(t1).Round(100*time.Millisecond))
	}
	if got := strings.TrimSpace(c.ok("vm", "ssh", "vm-0", "--name", name, "--", "sudo -n true && hostname && getent hosts vm-0 | wc -l").stdout); got != "vm-0\n1" {
		t.Errorf("after the power cuts, sudo/hostname/hosts: %q", got)
	}

	if got := strings.TrimSpace(c.ok("vm", "ssh", "vm-0", "--name", name, "--", "uname", "-m").stdout); got != "aarch64" {
		t.Errorf("vm ssh -- uname -m: %q", got)
	}
	if r := c.run("vm", "ssh", "vm-0", "--name", name, "--", "exit", "7"); r.code != 7 {
		t.Errorf("vm ssh -- exit 7: exit %d", r.code)
	}
	var list []struct {
		Name, State, Host, User, KeyFile string
		Port                             int
	}
	c.json(&list, "vm", "list", "--name", name)
	if len(list) != 1 || list[0].State != "running" || list[0].Host != "127.0.0.1" {
		t.Fatalf("vm list: %+v", list)
	}

	// The inventory, with plain ssh (-F and -i) and with Ansible.
	dir := t.TempDir()
	write := func(file string, args ...string) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(c.ok(args...).stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv := write("inventory.yaml", "vm", "inventory", "--name", name)
	ini := write("inventory.ini", "vm", "inventory", "-f", "ini", "--name", name)
	sshConfig := write("ssh_config", "vm", "inventory", "-f", "ssh-config", "--name", name)
	var access struct {
		Files struct{ KnownHosts string } `json:"files"`
	}
	c.json(&access, "vm", "inventory", "--name", name)
	tool := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := tool("ssh", "-F", sshConfig, "vm-0", "hostname"); got != "vm-0" {
		t.Errorf("ssh -F: %q", got)
	}
	v := list[0]
	if got := tool("ssh", "-F", "none", "-i", v.KeyFile, "-p", strconv.Itoa(v.Port), "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile="+access.Files.KnownHosts, "-o", "StrictHostKeyChecking=yes", v.User+"@127.0.0.1", "uname", "-m"); got != "aarch64" {
		t.Errorf("ssh -i: %q", got)
	}
	for _, i := range []string{inv, ini} {
		if got := tool("ansible", "-i", i, "all", "-m", "ping"); !strings.Contains(got, `"ping": "pong"`) {
			t.Errorf("ansible -i %s all -m ping:\n%s", filepath.Base(i), got)
		}
	}

	// A file written before the power cut is there after the drill.
	c.ok("vm", "ssh", "vm-0", "--name", name, "--", "echo e2e-kept > ~/persisted && sync")
	var rep report.Report
	reports := filepath.Join(t.TempDir(), "vm")
	c.json(&rep, "drill", "run", "vm-node-loss", "--name", name, "--report-dir", reports)
	checkReports(t, reports, 1, 0)
	for _, s := range rep.Scenarios {
		t.Logf("drill %s %s: detect %d ms, recover %d ms, total %d ms", s.Name, s.Result, s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs)
	}
	if got := strings.TrimSpace(c.ok("vm", "ssh", "vm-0", "--name", name, "--", "cat", "persisted").stdout); got != "e2e-kept" {
		t.Errorf("after the power cut: %q", got)
	}

	// The example drill file: the power cut recovered by starting the VM and the lab's
	// Ansible ping loop over `labsbx vm inventory`.
	var frep report.Report
	freports := filepath.Join(t.TempDir(), "file")
	c.json(&frep, "drill", "run", "-f", "../examples/drills/vm-power-cut-ansible.yaml", "--name", name, "--report-dir", freports)
	checkReports(t, freports, 1, 0)
	if len(frep.Scenarios) != 1 || len(frep.Scenarios[0].Output) != 1 || !strings.Contains(frep.Scenarios[0].Output[0].Output, "SUCCESS") {
		t.Errorf("vm-power-cut-ansible: the recovery's Ansible output is not in the report: %+v", frep.Scenarios)
	}
	for _, s := range frep.Scenarios {
		t.Logf("drill %s %s: detect %d ms, recover %d ms, total %d ms", s.Name, s.Result, s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs)
	}

	// The sandbox's SSH key never reached any output.
	key, err := os.ReadFile(filepath.Join(c.home, name, "secrets", "vm-ssh-key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(key), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(c.transcript.String(), line) {
			t.Error("the sandbox's private SSH key appears in command output")
			break
		}
	}

	r = c.ok("down", "--name", name)
	if !strings.Contains(r.stdout, "1 VMs") {
		t.Errorf("down:\n%s", r.stdout)
	}
	if out, _ := exec.Command("pgrep", "-f", "labsbx-"+up.UUID+"-").Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("QEMU processes left after down: %s", out)
	}
	if _, err := os.Stat(filepath.Join(c.home, name)); !os.IsNotExist(err) {
		t.Errorf("state dir (with the overlay) left after down: %v", err)
	}
	assertNoLabelled(t, name)
}
