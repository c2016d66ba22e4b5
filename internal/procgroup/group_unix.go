//go:build unix

package procgroup

import (
	"errors"
	"os/exec"
	"syscall"
)

func run(cmd *exec.Cmd, o Options) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if o.Interactive {
		// Not in a group of its own (see Options.Interactive); it still dies with labsbx
		// on Linux.
		parentDeath(cmd, "")
		return runLocked(cmd)
	}
	parentDeath(cmd, o.Reaper)
	cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pgid = true, 0
	// On cancel (a timeout, SIGINT or SIGTERM to labsbx) the whole group goes, not only
	// its leader: a runbook's `sleep 300 &` would otherwise outlive the drill.
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	if o.Reaper != "" {
		// The reaper kills the command's whole tree, what left the group included,
		// then the group; SIGKILL would leave that to init. The group is killed below
		// in any case.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	}
	err := runLocked(cmd)
	if cmd.Process != nil {
		// What the command left running in the background ends with it.
		_ = killGroup(cmd.Process.Pid)
	}
	return err
}

// killGroup kills process group pgid; a group that is gone already is not an error.
func killGroup(pgid int) error {
	if pgid <= 1 {
		return nil // never the caller's own group or every process
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
