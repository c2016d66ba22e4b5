//go:build unix && !linux

package guard

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// readProcOS asks ps(1) (macOS has no /proc) for the owner, state and command line.
// ps joins the arguments with spaces; labsbx's -name value has none.
func readProcOS(pid int) (procInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/ps", "-ww", "-o", "uid=", "-o", "stat=", "-o", "command=", "-p", strconv.Itoa(pid))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	out, err := cmd.Output()
	line := strings.TrimSpace(string(out))
	if line == "" {
		if _, ok := err.(*exec.ExitError); ok || err == nil {
			return procInfo{}, ErrVMNotRunning
		}
		return procInfo{}, fmt.Errorf("ps: %w", err)
	}
	f := strings.Fields(line)
	if len(f) < 3 {
		return procInfo{}, fmt.Errorf("ps: malformed line %q", line)
	}
	uid, err := strconv.Atoi(f[0])
	if err != nil {
		return procInfo{}, fmt.Errorf("ps: malformed uid %q", f[0])
	}
	return procInfo{uid: uid, zombie: strings.HasPrefix(f[1], "Z"), argv: f[2:]}, nil
}
