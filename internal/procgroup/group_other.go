//go:build !unix

package procgroup

import "os/exec"

// run: without process groups, the command alone is killed on cancel.
func run(cmd *exec.Cmd, _ Options) error { return cmd.Run() }
