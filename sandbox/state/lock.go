package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/config"
)

// ErrLocked is returned when another labsbx run holds the sandbox.
var ErrLocked = errors.New("sandbox is locked")

// Lock is an exclusive hold on one sandbox. The kernel drops it when the process dies,
// so a crash never leaves a sandbox locked.
type Lock struct {
	fl   *flock.Flock
	path string
}

// Lock takes the sandbox's lock without waiting. When another run holds it, the error
// names that run's PID.
func (st *Store) Lock(name string) (*Lock, error) {
	if err := config.ValidateName(name); err != nil {
		return nil, err
	}
	dir := st.Dir(name)
	if err := os.MkdirAll(dir, fsutil.DirMode); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	st.repairModes(dir)
	path := filepath.Join(dir, "lock")
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(fsutil.SecretMode))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock sandbox %q: %w", name, err)
	}
	if !ok {
		holder := "unknown pid"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, fmt.Errorf("%w: another labsbx run (%s) is working on sandbox %q; wait for it to finish or stop it", ErrLocked, holder, name)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), fsutil.SecretMode); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("lock sandbox %q: %w", name, err)
	}
	return &Lock{fl: fl, path: path}, nil
}

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.fl == nil {
		return nil
	}
	_ = os.WriteFile(l.path, nil, fsutil.SecretMode)
	err := l.fl.Unlock()
	l.fl = nil
	return err
}
