package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/arcodange/labsbx/internal/procgroup"
	"github.com/arcodange/labsbx/sandbox/fence"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// ExecLocal runs a local command with a scrubbed environment: guard.IdentityEnv of the
// caller's, then the sandbox identity's variables. It returns the command's exit status.
type ExecLocal struct {
	Args   []string
	Getenv func(string) string
	// Dir is the working directory ("": the caller's).
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Fence, when set, confines the command to the sandbox (FenceOf): it rewrites the
	// command's Path, Args, ExtraFiles, HOME and namespace flags, nothing else.
	Fence *fence.Fence
	// Reaper is labsbx's own binary, to lead the command's process group
	// (procgroup.Options; "": none).
	Reaper string
}

// environ is the command's whole environment.
func (e *ExecLocal) environ(vars []EnvVar) []string {
	kvs := make([]string, len(vars))
	for i, v := range vars {
		kvs[i] = v.Name + "=" + v.Value
	}
	return guard.RunbookEnv(e.Getenv, kvs)
}

// Run runs it. A command that cannot start is an error; one that ran and failed is its
// exit status.
func (e *ExecLocal) Run(ctx context.Context, vars []EnvVar) (int, error) {
	if len(e.Args) == 0 {
		return -1, errors.New("no command to run: give it after --")
	}
	cmd := exec.CommandContext(ctx, e.Args[0], e.Args[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Dir = e.environ(vars), e.Stdin, e.Stdout, e.Stderr, e.Dir
	// A child left holding the output pipe does not keep Run waiting past the command.
	cmd.WaitDelay = 2 * time.Second
	var fenced *fence.Running
	if e.Fence != nil {
		var err error
		if fenced, err = e.Fence.Wrap(ctx, cmd); err != nil {
			return -1, err
		}
	}
	// The command (the fence's child, when fenced), and whatever it starts, dies with a
	// cancel, a timeout or labsbx itself; one that reads a terminal stays in labsbx's
	// process group (procgroup). The fence's namespaces and files are kept: the reaper
	// leads the group inside them.
	err := fenced.Finish(procgroup.Run(cmd, procgroup.Options{Interactive: procgroup.IsTerminal(e.Stdin), Reaper: e.Reaper}))
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("run %s: %w", e.Args[0], err)
	}
	return 0, nil
}
