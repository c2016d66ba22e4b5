package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// readProcOS reads /proc/<pid>: the command line (NUL-separated), the owner of the
// directory (the process's effective uid) and the state letter of stat.
func readProcOS(pid int) (procInfo, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return procInfo{}, ErrVMNotRunning
	}
	if err != nil {
		return procInfo{}, err
	}
	var info procInfo
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		info.uid = int(st.Uid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return procInfo{}, ErrVMNotRunning
	}
	if err != nil {
		return procInfo{}, err
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return procInfo{}, fmt.Errorf("malformed %s/stat", dir)
	}
	info.zombie = stat[i+2] == 'Z' || stat[i+2] == 'X'
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if errors.Is(err, fs.ErrNotExist) {
		return procInfo{}, ErrVMNotRunning
	}
	if err != nil {
		return procInfo{}, err
	}
	for _, a := range bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}) {
		if len(a) > 0 || len(info.argv) > 0 {
			info.argv = append(info.argv, string(a))
		}
	}
	return info, nil
}
