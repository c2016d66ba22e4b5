//go:build !unix

package guard

import (
	"errors"
	"syscall"
)

var errVMUnsupported = errors.New("labsbx VMs run on Linux and macOS only")

func readProcOS(int) (procInfo, error)  { return procInfo{}, errVMUnsupported }
func killPID(int, syscall.Signal) error { return errVMUnsupported }
