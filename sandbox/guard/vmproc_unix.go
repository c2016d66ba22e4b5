//go:build unix

package guard

import "syscall"

func killPID(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
