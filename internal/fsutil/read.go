package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is returned by ReadRegular for a path that is not a regular file: a
// directory, a device, a FIFO or a socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned by ReadRegular for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// ReadRegular reads the regular file at path (a symlink is followed and judged by what
// it points to), reading at most limit bytes. It never blocks on a FIFO or a device: the
// file is opened non-blocking and checked with fstat before a byte is read, so a path
// swapped for a FIFO between a caller's check and this open is refused too.
func ReadRegular(path string, limit int64) ([]byte, error) {
	return readRegular(path, limit, 0)
}

// ReadRegularNoFollow is ReadRegular that refuses a symlink as the last element.
func ReadRegularNoFollow(path string, limit int64) ([]byte, error) {
	return readRegular(path, limit, oNoFollow)
}

func readRegular(path string, limit int64, flags int) ([]byte, error) {
	// Judge the path before opening it: opening some devices has effects of its own.
	stat := os.Stat
	if flags&oNoFollow != 0 && oNoFollow != 0 {
		stat = os.Lstat
	}
	if fi, err := stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, typeName(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonBlock|flags, 0)
	if err != nil {
		if flags != 0 && isLoop(err) {
			return nil, fmt.Errorf("%s: %w (a symlink)", path, ErrNotRegular)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, typeName(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", path, ErrTooLarge, limit)
	}
	return data, nil
}

// OpenRegular opens the regular file at path for reading, refusing a symlink as the
// last element, and never blocking on a FIFO or a device (see ReadRegular).
func OpenRegular(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, typeName(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonBlock|oNoFollow, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	return f, nil
}

// TypeName names a file mode's type for people: "directory", "FIFO", "device", ….
func TypeName(m fs.FileMode) string { return typeName(m) }

func typeName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "irregular file"
}
