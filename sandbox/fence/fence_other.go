//go:build !linux

package fence

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// Network namespaces are Linux's: elsewhere (macOS) commands run with the guard's
// text checks and the sandbox's HOME only.
func probe() (bool, string) {
	return false, "network namespaces are Linux-only, and this is " + runtime.GOOS
}

func (f *Fence) wrap(context.Context, *exec.Cmd) (*Running, error) { return &Running{}, nil }

// Child is `labsbx __fence`, which only Linux starts.
func Child([]string) int {
	fmt.Fprintln(os.Stderr, "labsbx: no fence on "+runtime.GOOS)
	return 125
}

// Relay is labsbx run inside a fence, which only Linux builds.
func Relay(string, []string) int {
	fmt.Fprintln(os.Stderr, "labsbx: no fence on "+runtime.GOOS)
	return 125
}
