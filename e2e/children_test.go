package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bgRunbook is a runbook that leaves a child behind if it can: a background sleep and
// a foreground one. Once both started it writes its process group, its shell's PID and
// the background child's to file.
func bgRunbook(file string) string {
	return `read -r _ _ _ _ pg _ < /proc/$$/stat; sleep 300 & echo "$pg $$ $!" > ` + file + `.tmp && mv ` + file + `.tmp ` + file + `; sleep 300`
}

// waitPIDs waits for the numbers a runbook wrote to file (its group, then PIDs).
func waitPIDs(t *testing.T, file string, within time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(file); err == nil {
			var out []int
			for _, f := range strings.Fields(string(b)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("%s: %q", file, b)
				}
				out = append(out, n)
			}
			if len(out) == 3 {
				return out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runbook never wrote %s", file)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupMembers are the live (not zombie) processes of process group pg.
func groupMembers(t *testing.T, pg int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, pgrp, ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pg) {
			out = append(out, e.Name()+" "+s[:i+1])
		}
	}
	return out
}

// children are the PIDs whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				out = append(out, n)
			}
		}
	}
	return out
}

// noSurvivors fails when a process of the runbook's group outlives labsbx (after a
// few seconds' grace), and kills what it finds so that nothing leaks past the test.
func noSurvivors(t *testing.T, label string, ids []int) {
	t.Helper()
	pg := ids[0]
	if pg <= 1 || pg == syscall.Getpgrp() {
		// labsbx gave the runbook no group of its own: it shares this test's, which
		// must not be killed. Its own processes are.
		t.Errorf("%s: the runbook ran in the test's own process group %d, not one of its own", label, pg)
		for _, p := range append(children(t, ids[1]), ids[1:]...) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := groupMembers(t, pg)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pg, syscall.SIGKILL)
			for _, p := range ids[1:] {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Errorf("%s: processes of the runbook's group %d outlived labsbx: %v", label, pg, left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startDrill starts labsbx drill run with args and returns it running.
func startDrill(t *testing.T, c *cli, args ...string) *exec.Cmd {
	t.Helper()
	cmd := c.command(append([]string{"drill", "run"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitExit waits for cmd within d, and returns its exit status (-1: a signal; -2: it
// overran d, and was killed).
func waitExit(t *testing.T, label string, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s: labsbx was still running after %s", label, d)
	}
	return -2
}

// TestE2EDrillChildrenDie: what a drill's runbook or probe starts dies with the drill,
// whether a --timeout cut it or labsbx got SIGTERM or SIGKILL; and a steady-state
// command probe that hangs is cut at --timeout.
func TestE2EDrillChildrenDie(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("reads process groups from /proc (Linux)")
	}
	c := newLocalImagesCLI(t)
	name := sandboxName("children")
	t.Cleanup(func() { c.run("down", "--name", name) })
	c.ok("up", "--profile", "vault", "--name", name)
	dir := t.TempDir()
	drill := func(file, spec string) string {
		p := filepath.Join(dir, file+".yaml")
		text := "apiVersion: labsbx.dev/v1alpha1\nkind: Drill\nmetadata:\n  name: " + file + "\nspec:\n" + spec
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A runbook that never ends; the fault is a seal, which its rollback undoes.
	runbook := func(file, pids string) string {
		return drill(file, "  fault:\n    builtin: seal\n  symptom:\n    - vault: sealed\n  recovery:\n    run: '"+bgRunbook(pids)+"'\n  verify:\n    - vault: unsealed\n")
	}
	unsealed := func(label string) {
		t.Helper()
		if r := c.ok("vault", "status", "--name", name); !strings.Contains(r.stdout, "Sealed:       false") {
			t.Errorf("%s: Vault is not unsealed:\n%s", label, r.stdout)
		}
	}

	// --timeout cuts the runbook (it gives no timeout of its own): its whole group goes.
	t.Run("timeout", func(t *testing.T) {
		c.ok("drill", "recover", "--name", name) // what a case before left, if it failed
		pids := filepath.Join(dir, "timeout.pids")
		cmd := startDrill(t, c, "-f", runbook("timeout", pids), "--timeout", "5s", "--name", name)
		ids := waitPIDs(t, pids, 2*time.Minute)
		if code := waitExit(t, "--timeout", cmd, 90*time.Second); code != 4 {
			t.Errorf("a runbook cut at --timeout: exit %d, want 4", code)
		}
		noSurvivors(t, "--timeout", ids)
		unsealed("after the rollback of the cut runbook")
	})

	// SIGTERM and SIGKILL to labsbx while the runbook runs: the group goes too, and
	// drill recover undoes the fault.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		label := sig.String()
		t.Run(strings.ReplaceAll(label, " ", "-"), func(t *testing.T) {
			c.ok("drill", "recover", "--name", name) // what a case before left, if it failed
			pids := filepath.Join(dir, strings.ReplaceAll(label, " ", "")+".pids")
			cmd := startDrill(t, c, "-f", runbook("signal", pids), "--name", name)
			ids := waitPIDs(t, pids, 2*time.Minute)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitExit(t, label, cmd, 30*time.Second)
			noSurvivors(t, label, ids)
			c.ok("drill", "recover", "--name", name)
			unsealed("after " + label + " and drill recover")
		})
	}

	// A steady-state command probe that hangs is cut at --timeout; nothing is injected.
	t.Run("steady-state-probe", func(t *testing.T) {
		c.ok("drill", "recover", "--name", name) // what a case before left, if it failed
		pids := filepath.Join(dir, "steady.pids")
		steady := drill("steady", "  steady:\n    - command:\n        run: '"+bgRunbook(pids)+"'\n  fault:\n    builtin: seal\n  symptom:\n    - vault: sealed\n  recovery:\n    builtin: true\n  verify:\n    - vault: unsealed\n")
		start := time.Now()
		cmd := startDrill(t, c, "-f", steady, "--timeout", "3s", "--name", name)
		ids := waitPIDs(t, pids, time.Minute)
		if code := waitExit(t, "steady-state probe", cmd, 60*time.Second); code != 4 {
			t.Errorf("a hanging steady-state probe: exit %d, want 4", code)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("a steady-state probe with --timeout 3s held the drill %s", took.Round(time.Second))
		}
		noSurvivors(t, "steady-state probe", ids)
		unsealed("after a steady state that did not hold")
	})
}
