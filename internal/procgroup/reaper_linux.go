package procgroup

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReaperPath is this binary, to serve as a reaper ("" when it cannot tell).
func ReaperPath() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	return p
}

// parentDeath makes the kernel signal cmd when labsbx dies, whatever kills it. The
// signal reaches cmd alone, not what cmd started: with a reaper, cmd becomes the
// reaper, which gets SIGTERM and kills its whole group; without one, cmd gets SIGKILL.
func parentDeath(cmd *exec.Cmd, reaper string) {
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if reaper == "" {
		return
	}
	cmd.Args = append([]string{reaper, ReaperArg, cmd.Path}, cmd.Args...)
	cmd.Path = reaper
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}

// runLocked runs cmd on one OS thread from start to end: the kernel sends the
// parent-death signal when the thread that started the child ends, not the process,
// and the Go runtime ends a thread whose goroutine exits while locked to it.
func runLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Run()
}

// ServeReaper runs this process as a reaper when args (os.Args) ask for one
// (<binary> ReaperArg <path> <argv...>), and returns its exit status. main calls it
// before anything else.
func ServeReaper(args []string) (code int, served bool) {
	if len(args) < 4 || args[1] != ReaperArg {
		return 0, false
	}
	return reap(args[2], args[3:]), true
}

// reap runs path with argv in this process's group, which it leads, and passes its
// exit status on. When labsbx dies (the parent-death signal, SIGTERM) or someone asks
// it to stop (SIGTERM, SIGHUP, SIGINT), it kills its whole group, itself included.
//
// A process group does not hold a command that leaves it (setsid, a daemon's double
// fork), so the reaper is also a child subreaper: whatever the command starts stays
// in its tree, orphans included, and ends with the command (killTree).
func reap(path string, argv []string) int {
	runtime.LockOSThread() // the child's parent-death signal follows this thread
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "labsbx: reaper: %v\n", err)
		return 127
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	// Only a group this process leads is killed: run by hand from a shell, it would
	// be the shell's.
	leader := syscall.Getpgrp() == os.Getpid()
	child := &exec.Cmd{Path: path, Args: argv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	if err := child.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "labsbx: %v\n", err)
		return 127
	}
	done := make(chan struct{})
	go func() {
		_ = child.Wait()
		close(done)
	}()
	select {
	case <-sigs:
		killTree()
		<-done
		if leader {
			_ = syscall.Kill(0, syscall.SIGKILL)
		}
		return 128 + int(syscall.SIGKILL)
	case <-done:
	}
	killTree() // what the command left running, in its group or out of it
	ws, _ := child.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()) // as a shell reports it
	}
	return child.ProcessState.ExitCode()
}
