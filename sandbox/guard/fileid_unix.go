//go:build unix

package guard

import (
	"os"
	"syscall"
)

func statID(p string) (fileID, bool) { return idOf(os.Stat(p)) }

func lstatID(p string) (fileID, bool) { return idOf(os.Lstat(p)) }

func idOf(fi os.FileInfo, err error) (fileID, bool) {
	if err != nil {
		return fileID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true //nolint:unconvert // Dev is int32 on darwin
}
