//go:build unix

package procgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets this test binary serve as a reaper (and as the parent that a test
// kills), as labsbx's main does.
func TestMain(m *testing.M) {
	if code, served := ServeReaper(os.Args); served {
		os.Exit(code)
	}
	if os.Getenv("PROCGROUP_TEST_PARENT") != "" {
		os.Exit(parent())
	}
	os.Exit(m.Run())
}

// parent runs the script of PROCGROUP_TEST_PARENT under this binary as its reaper,
// until something kills it.
func parent() int {
	cmd := exec.CommandContext(context.Background(), "sh", "-c", os.Getenv("PROCGROUP_TEST_PARENT"))
	if err := Run(cmd, Options{Reaper: ReaperPath()}); err != nil {
		return 1
	}
	return 0
}

// bgScript starts a background sleep and a foreground one, and writes their shell's
// PID and the background child's to file.
func bgScript(file string) string {
	return "sleep 300 & echo $$ $! > " + file + ".tmp && mv " + file + ".tmp " + file + "; sleep 300"
}

// pids waits for the PIDs a script wrote.
func pids(t *testing.T, file string) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			var out []int
			for _, f := range strings.Fields(string(b)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, n)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script never wrote its PIDs: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: pid is a process, and not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return !os.IsNotExist(err) && syscall.Kill(pid, 0) == nil // no /proc (macOS): kill says
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// noneAlive waits a little for every pid to die, and fails naming the survivors.
func noneAlive(t *testing.T, label string, ps []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []int
		for _, p := range ps {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("%s: processes %v of the command survived", label, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A cancel (a drill's timeout, a signal to labsbx) kills the whole group, not only
// the shell: its background child goes too, with and without a reaper.
func TestCancelKillsTheGroup(t *testing.T) {
	for _, reaper := range []string{"", ReaperPath()} {
		file := filepath.Join(t.TempDir(), "pids")
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, "sh", "-c", bgScript(file))
		cmd.WaitDelay = 2 * time.Second
		done := make(chan error, 1)
		go func() { done <- Run(cmd, Options{Reaper: reaper}) }()
		ps := pids(t, file)
		cancel()
		select {
		case err := <-done:
			t.Logf("reaper %q: Run after the cancel: %v", reaper, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("reaper %q: Run did not return after the cancel", reaper)
		}
		noneAlive(t, "reaper "+strconv.Quote(reaper), ps)
	}
}

// What a command leaves running in the background ends with it.
func TestTheGroupEndsWithTheCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pids")
	cmd := exec.CommandContext(context.Background(), "sh", "-c", "sleep 300 & echo $! > "+file)
	if err := Run(cmd, Options{}); err != nil {
		t.Fatal(err)
	}
	noneAlive(t, "after the command ended", pids(t, file))
}

// The exit status passes through the reaper.
func TestReaperPassesTheExitStatus(t *testing.T) {
	if ReaperPath() == "" {
		t.Skip("no reaper on this system")
	}
	cmd := exec.CommandContext(context.Background(), "sh", "-c", "echo out; exit 7")
	var out strings.Builder
	cmd.Stdout = &out
	err := Run(cmd, Options{Reaper: ReaperPath()})
	if code := cmd.ProcessState.ExitCode(); code != 7 || out.String() != "out\n" {
		t.Errorf("exit %d (%v), output %q; want 7 and out", code, err, out.String())
	}
}

// pgid is the process group of pid.
func pgid(t *testing.T, pid int) int {
	t.Helper()
	g, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// A command that reads no terminal leads a group of its own; an interactive one stays
// in labsbx's, the terminal's foreground group, where job control lets it read.
func TestOnlyNonInteractiveCommandsGetAGroup(t *testing.T) {
	for _, interactive := range []bool{false, true} {
		file := filepath.Join(t.TempDir(), "pids")
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, "sh", "-c", bgScript(file))
		done := make(chan error, 1)
		go func() { done <- Run(cmd, Options{Interactive: interactive}) }()
		ps := pids(t, file)
		got, mine := pgid(t, ps[0]), syscall.Getpgrp()
		cancel()
		t.Logf("interactive %t: Run after the cancel: %v", interactive, <-done)
		if interactive {
			_ = syscall.Kill(ps[1], syscall.SIGKILL)
		}
		switch {
		case interactive && got != mine:
			t.Errorf("an interactive command runs in group %d, not the caller's %d", got, mine)
		case !interactive && got != ps[0]:
			t.Errorf("a non-interactive command runs in group %d, not its own (%d)", got, ps[0])
		}
	}
}
