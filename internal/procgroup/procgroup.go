// Package procgroup makes the commands labsbx runs for a sandbox die with it: a drill's
// runbooks and probes, and what `labsbx exec` and `labsbx ci exec` run. What such a
// command starts in the background holds the sandbox's token or password in its
// environment, so none of it may outlive the drill, the timeout that cut it, or labsbx
// itself.
//
// A command that does not read a terminal runs in a process group of its own: a
// cancelled context (a drill's timeout, SIGINT or SIGTERM to labsbx) kills the whole
// group, and so does the command's end, for whatever it left running. On Linux the
// group is led by a reaper, labsbx's own binary (ServeReaper), which the kernel signals
// when labsbx dies, even of SIGKILL (the parent-death signal), and which then kills the
// group. The reaper is a child subreaper too, so that what leaves the group (setsid, a
// daemon's double fork) stays in its tree, which it kills whole as well.
package procgroup

import (
	"io"
	"os"
	"os/exec"

	"golang.org/x/term"
)

// ReaperArg is the hidden first argument that makes labsbx's binary a reaper
// (ServeReaper): <binary> ReaperArg <path> <argv...>.
const ReaperArg = "__labsbx-reaper"

// Options say how a command is contained.
type Options struct {
	// Interactive: the command reads a terminal. It stays in labsbx's process group,
	// the terminal's foreground group: in a group of its own, job control would stop
	// it (SIGTTIN) at its first read of the terminal. Ctrl-C reaches it from the
	// terminal as it reaches labsbx; a cancel kills the command alone.
	Interactive bool
	// Reaper is labsbx's own binary, which leads the group as a reaper ("": none,
	// as in a test binary, which cannot be one). main sets it only after
	// ServeReaper, so that a binary is never asked to be a reaper that is not one.
	Reaper string
}

// IsTerminal reports whether r is a terminal (a command given it reads the terminal).
func IsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Run runs cmd, made with exec.CommandContext, contained as o says, and returns what
// cmd.Run returns. Once it returns, nothing of a non-interactive command's process
// group is left running.
func Run(cmd *exec.Cmd, o Options) error {
	if cmd.Err != nil || cmd.Path == "" {
		return cmd.Run() // it cannot start: let exec say why
	}
	return run(cmd, o)
}
