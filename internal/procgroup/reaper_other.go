//go:build !linux

package procgroup

import "os/exec"

// Without a parent-death signal, no reaper can learn that labsbx died: a SIGKILL of
// labsbx leaves its command running here, while a cancel still kills its group.

// ServeReaper is never served off Linux.
func ServeReaper([]string) (code int, served bool) { return 0, false }

// ReaperPath is "": off Linux there is no reaper.
func ReaperPath() string { return "" }

func parentDeath(*exec.Cmd, string) {}

func runLocked(cmd *exec.Cmd) error { return cmd.Run() }
