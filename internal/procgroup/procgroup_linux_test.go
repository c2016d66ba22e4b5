package procgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
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
