package procgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SIGKILL of labsbx cannot be caught: the reaper learns of it from the kernel (the
// parent-death signal) and kills the group, the shell's background child included.
func TestSIGKILLOfTheParentKillsTheGroup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pids")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := exec.Command(self)
	p.Env = append(os.Environ(), "PROCGROUP_TEST_PARENT="+bgScript(file))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ps := pids(t, file)
	if err := p.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	noneAlive(t, "after SIGKILL of the parent", ps)
}

// A command that leaves the process group (setsid) or hands a child to init (a
// daemon's double fork) still ends with the command, and with a cancel: the reaper
// keeps the whole tree.
func TestWhatLeavesTheGroupEndsWithTheCommand(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid here")
	}
	// The first sleep is in a session of its own; the second's parent exits at once,
	// so that it is an orphan in another session.
	script := func(file string) string {
		return "setsid sleep 300 & a=$!; setsid sh -c 'sleep 300 & echo $! > " + file + ".b' ; " +
			"while [ ! -s " + file + ".b ]; do sleep 0.01; done; " +
			"echo $a $(cat " + file + ".b) > " + file + ".tmp && mv " + file + ".tmp " + file
	}
	t.Run("end", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "pids")
		cmd := exec.CommandContext(context.Background(), "sh", "-c", script(file))
		if err := Run(cmd, Options{Reaper: ReaperPath()}); err != nil {
			t.Fatal(err)
		}
		ps := pids(t, file)
		if len(ps) != 2 {
			t.Fatalf("pids %v", ps)
		}
		noneAlive(t, "after the command ended", ps)
	})
	t.Run("cancel", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "pids")
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, "sh", "-c", script(file)+"; sleep 300")
		cmd.WaitDelay = 2 * time.Second
		done := make(chan error, 1)
		go func() { done <- Run(cmd, Options{Reaper: ReaperPath()}) }()
		ps := pids(t, file)
		for _, p := range ps {
			if g := pgid(t, p); g == cmd.Process.Pid {
				t.Fatalf("process %d is still in the command's group: the test proves nothing", p)
			}
		}
		cancel()
		select {
		case err := <-done:
			t.Logf("Run after the cancel: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after the cancel")
		}
		noneAlive(t, "after the cancel", ps)
	})
}
