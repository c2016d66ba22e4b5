// Package execx runs the external programs labsbx drives (mmdebstrap, qemu-img,
// qemu-system-aarch64, ssh, ansible) with a scrubbed environment, and reports a
// failure with its command line and the end of its output.
package execx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/arcodange/labsbx/sandbox/guard"
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

// Command builds a command with the scrubbed environment (guard.ScrubbedEnv) plus extra.
func Command(ctx context.Context, extraEnv []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(guard.ScrubbedEnv(os.Environ()), extraEnv...)
	return cmd
}

// Run runs name with args and returns its stdout. The combined output also goes to
// log when it is not nil. A failure is a *RunError with the output's last 30 lines.
func Run(ctx context.Context, log io.Writer, name string, args ...string) ([]byte, error) {
	cmd := Command(ctx, nil, name, args...)
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
