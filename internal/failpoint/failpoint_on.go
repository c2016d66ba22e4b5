//go:build failpoint

package failpoint

import (
	"os"
	"strings"
	"syscall"
	"time"
)

// Hit stops the process at the point named by LABSBX_FAILPOINT, as "name" (SIGKILL)
// or "name:int" (SIGINT, then as long as the handler needs). Only test binaries are
// built with this file.
func Hit(name string) {
	want, sig, _ := strings.Cut(os.Getenv("LABSBX_FAILPOINT"), ":")
	if want != name {
		return
	}
	if sig == "int" {
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		time.Sleep(2 * time.Second) // the context is cancelled meanwhile; the step returns
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
