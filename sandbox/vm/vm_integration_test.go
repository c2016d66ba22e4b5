package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/vmimages"
)

// requireVMTools stops the test unless QEMU and the cached default image are here.
func requireVMTools(t testing.TB) *vmimages.Image {
	t.Helper()
	for _, tool := range []string{guard.QemuBinary, "qemu-img", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Require(t, tool, "apt-get install qemu-system-arm qemu-utils openssh-client")
		}
	}
	root, err := vmimages.CacheRoot(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	src, err := vmimages.SourceAuto.Resolve(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	img, err := vmimages.Find(root, "debian-12-arm64", src)
	if err != nil {
		testenv.Require(t, "the debian-12-arm64 VM image ("+err.Error()+")", "go tool task vmimage")
	}
	return img
}

// testSandbox is a sandbox record of its own, with its secrets in a temp state dir.
func testSandbox(t testing.TB) Sandbox {
	rec := guard.Record{Name: "itvm", UUID: uuid.NewString(), StateDir: t.TempDir()}
	return Sandbox{Record: rec, SecretPath: func(f string) (guard.KeyPath, error) {
		return guard.ApproveKeyPath(rec, filepath.Join(rec.StateDir, "secrets", f))
	}}
}

// qemuProcesses lists the PIDs whose command line names this sandbox's VMs.
func qemuProcesses(t testing.TB, uuid string) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", "labsbx-"+uuid+"-").Output()
	return strings.Fields(string(out))
}

// bootVM creates and starts a VM and waits until it is ready; cleanup removes it and
// checks that no QEMU of the sandbox is left.
func bootVM(t testing.TB, m *Manager, img *vmimages.Image) (*State, Readiness) {
	t.Helper()
	ctx := context.Background()
	st, err := m.Create(ctx, "vm-0", Spec{CPUs: 2, MemoryMiB: 1024, Image: img})
	t.Cleanup(func() {
		if st != nil {
			if err := m.Remove(context.Background(), st); err != nil {
				t.Errorf("remove: %v", err)
			}
		}
		if left := qemuProcesses(t, m.sb.Record.UUID); len(left) > 0 {
			t.Errorf("QEMU processes left: %v", left)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, st); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	r, err := m.WaitReady(wctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return st, r
}

// TestIntegrationVMLifecycle boots one VM under the host's accelerator (TCG here), logs
// in with the Go client, plain ssh -F and -i, and Ansible, then stops and starts it and
// checks that a file written before survived.
func TestIntegrationVMLifecycle(t *testing.T) {
	img := requireVMTools(t)
	if _, err := exec.LookPath("ansible"); err != nil {
		testenv.Require(t, "ansible", "apt-get install ansible-core")
	}
	ctx := context.Background()
	m := New(testSandbox(t))
	st, r := bootVM(t, m, img)
	t.Logf("boot: SSH banner after %s, ready after %s (%s, %s)", r.Banner.Round(100*time.Millisecond), r.Ready.Round(100*time.Millisecond), st.Accel, r.SystemState)

	out, err := m.Run(ctx, st, "uname -m")
	if err != nil || strings.TrimSpace(string(out)) != "aarch64" {
		t.Fatalf("uname -m: %q %v", out, err)
	}
	files, err := m.WriteAccessFiles([]State{*st})
	if err != nil {
		t.Fatal(err)
	}
	env := append(guard.ScrubbedEnv(os.Environ()), "HOME="+t.TempDir())
	run := func(name string, args ...string) string {
		t.Helper()
		c := exec.Command(name, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run("ssh", "-F", files.SSHConfig, "vm-0", "hostname"); got != "vm-0" {
		t.Errorf("ssh -F: hostname %q", got)
	}
	hosts, err := m.Hosts([]State{*st})
	if err != nil {
		t.Fatal(err)
	}
	if got := run("ssh", append(SSHArgs(hosts[0]), "uname", "-m")...); got != "aarch64" {
		t.Errorf("ssh -i: uname -m %q", got)
	}
	for _, inv := range []string{files.InventoryYAML, files.InventoryINI} {
		if got := run("ansible", "-i", inv, "all", "-m", "ping"); !strings.Contains(got, `"ping": "pong"`) {
			t.Errorf("ansible -i %s -m ping:\n%s", inv, got)
		}
	}

	// A file written (and synced) before a clean stop is there after the start, and
	// the identity the first boot wrote is not written again (the same inodes): the
	// second boot compares fw_cfg's items with what is on disk and leaves it alone.
	if _, err := m.Run(ctx, st, "echo kept > ~/persist && sync"); err != nil {
		t.Fatal(err)
	}
	const identityFiles = "sudo -n stat -c '%n %i %Y' /etc/sudoers.d/labsbx /etc/hosts /etc/hostname ~/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub /var/lib/labsbx/first-boot"
	before, err := m.Run(ctx, st, identityFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(ctx, st, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Running(st); ok || err != nil {
		t.Fatalf("after stop: running %t, %v", ok, err)
	}
	if _, err := m.Start(ctx, st); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	r2, err := m.WaitReady(wctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: ready after %s", r2.Ready.Round(100*time.Millisecond))
	if out, err := m.Run(ctx, st, "cat ~/persist"); err != nil || strings.TrimSpace(string(out)) != "kept" {
		t.Errorf("after restart: %q %v", out, err)
	}
	if after, err := m.Run(ctx, st, identityFiles); err != nil || string(after) != string(before) {
		t.Errorf("the second boot rewrote the identity:\nbefore:\n%s\nafter:\n%s%v", before, after, err)
	}
}

// BenchmarkVMBoot boots b.N VMs, one after the other, and times for each its first
// boot (QEMU's start to the SSH banner and to SSH-ready: login works, sudo works, the
// first boot finished) and, after a power cut (SIGKILL) right after it, its next start
// to SSH-ready. It reports the medians: `go tool task bench` runs it with -benchtime
// 5x. Under TCG a boot takes seconds, so the Go default of one op is too few.
func BenchmarkVMBoot(b *testing.B) {
	img := requireVMTools(b)
	var banner, ready, reboot []time.Duration
	ctx := context.Background()
	wait := func(st *State, m *Manager) (time.Duration, Readiness) {
		b.Helper()
		t0 := time.Now()
		if _, err := m.Start(ctx, st); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		r, err := m.WaitReady(wctx, st)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t0) - r.Ready, r // QEMU's own start, before WaitReady
	}
	for range b.N {
		m := New(testSandbox(b))
		st, err := m.Create(ctx, "vm-0", Spec{CPUs: 2, MemoryMiB: 1024, Image: img})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := m.Remove(context.Background(), st); err != nil {
				b.Error(err)
			}
		})
		start, r := wait(st, m)
		banner, ready = append(banner, start+r.Banner), append(ready, start+r.Ready)
		if err := m.PowerCut(ctx, st); err != nil {
			b.Fatal(err)
		}
		start2, r2 := wait(st, m)
		reboot = append(reboot, start2+r2.Ready)
		b.Logf("%s: first boot: SSH banner %s, SSH-ready %s; after a power cut: SSH-ready %s", st.Accel,
			(start + r.Banner).Round(100*time.Millisecond), (start + r.Ready).Round(100*time.Millisecond), (start2 + r2.Ready).Round(100*time.Millisecond))
		if err := m.Remove(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(testenv.Median(banner).Seconds(), "s-first-banner")
	b.ReportMetric(testenv.Median(ready).Seconds(), "s-first-ready")
	b.ReportMetric(testenv.Median(reboot).Seconds(), "s-reboot-ready")
}

// BenchmarkVMsTogether starts 1 and 3 VMs of one sandbox at once, as `labsbx up --vms N`
// does (every QEMU started, then every VM awaited together), and reports the median
// time until the last one is SSH-ready. On a 2-core host 3 VMs share 2 cores under
// TCG, so the figure grows with N; each VM has 2 vCPUs (the default).
func BenchmarkVMsTogether(b *testing.B) {
	img := requireVMTools(b)
	ctx := context.Background()
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			var all []time.Duration
			for range b.N {
				m := New(testSandbox(b))
				sts := make([]*State, n)
				for i := range sts {
					st, err := m.Create(ctx, Name(i), Spec{CPUs: 2, MemoryMiB: 1024, Image: img})
					if err != nil {
						b.Fatal(err)
					}
					sts[i] = st
					b.Cleanup(func() {
						if err := m.Remove(context.Background(), st); err != nil {
							b.Error(err)
						}
					})
				}
				t0 := time.Now()
				for _, st := range sts {
					if _, err := m.Start(ctx, st); err != nil {
						b.Fatal(err)
					}
				}
				wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				var g errgroup.Group
				for _, st := range sts {
					g.Go(func() error { _, err := m.WaitReady(wctx, st); return err })
				}
				err := g.Wait()
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, time.Since(t0))
				b.Logf("%d VMs started together: all SSH-ready after %s", n, all[len(all)-1].Round(100*time.Millisecond))
				for _, st := range sts {
					if err := m.Remove(ctx, st); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(testenv.Median(all).Seconds(), "s-all-ready")
		})
	}
}
