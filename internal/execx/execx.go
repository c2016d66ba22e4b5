// Package execx runs the external programs labsbx drives (mmdebstrap, qemu-img,
// qemu-system-aarch64, ssh, ansible) with exactly the environment its caller gives
// (the guard's ScrubbedEnv, in labsbx), and reports a failure with its command line
// and the end of its output.
package execx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// RunError is a command that failed: its command line, exit error and output tail.
type RunError struct {
	Command []string
	Err     error
	Output  string // the last lines of stdout and stderr
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("command failed: %s: %v", strings.Join(e.Command, " "), e.Err)
	if e.Output != "" {
		msg += "\n" + e.Output
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }

// Command builds a command whose environment is env and nothing else: a nil env is an
// empty environment, never the caller's own.
func Command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string{}, env...)
	return cmd
}

// Run runs name with args, in the environment env (see Command), and returns its stdout. The combined output also goes to
// log when it is not nil. A failure is a *RunError with the output's last 30 lines.
func Run(ctx context.Context, env []string, log io.Writer, name string, args ...string) ([]byte, error) {
	cmd := Command(ctx, env, name, args...)
	var stdout, all bytes.Buffer
	outs := []io.Writer{&stdout, &all}
	errs := []io.Writer{&all}
	if log != nil {
		outs, errs = append(outs, log), append(errs, log)
	}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(outs...), io.MultiWriter(errs...)
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return stdout.Bytes(), &RunError{Command: append([]string{name}, args...), Err: err, Output: Tail(all.String(), 30)}
	}
	return stdout.Bytes(), nil
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
