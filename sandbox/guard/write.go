package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/fsutil"
)

// Format is what a file that labsbx writes outside a state dir holds: a kubeconfig, a
// drill report, a bundle manifest. An existing file is replaced only when it already
// parses as that format, so that a mistyped path never turns someone's file into ours.
type Format struct {
	// Name says what the file is, for refusals ("kubeconfig", "drill report").
	Name string
	// Recognise returns nil when data is a file of this format. nil means that an
	// existing file is never replaced: the path must be new.
	Recognise func(data []byte) error
	// MaxSize bounds the read of an existing file; 0 means 16 MiB.
	MaxSize int64
	// KeepExisting marks a file labsbx writes once and then keeps (a bundle's image
	// archive, named by its content): an existing one is approved without being read,
	// and is never replaced.
	KeepExisting bool
}

// DirFormat is what a directory labsbx fills must already be, if it exists.
type DirFormat struct {
	// Name says what the directory is, for refusals ("bundle directory").
	Name string
	// Recognise returns nil when a directory holding these names may be filled; nil
	// accepts any directory.
	Recognise func(names []string) error
}

const defaultMaxWriteRead = 16 << 20

func (f Format) maxSize() int64 {
	if f.MaxSize > 0 {
		return f.MaxSize
	}
	return defaultMaxWriteRead
}

// WriteScope is what the guard needs to judge a write: the labsbx state roots it must
// stay out of (every sandbox's state dir is recognised by its state file as well), and
// the home directories whose ~/.arcodange holds production's keys (nil: the user's).
type WriteScope struct {
	StateRoots []string
	Homes      []string
}

// FileApproval is the guard's approval of a file that labsbx writes outside its state
// dir. It can only be obtained from ApproveWrite or DirApproval.File; its zero value
// refuses. Every read and write re-runs the checks, so a symlink or FIFO swapped in
// after approval is still refused.
type FileApproval struct {
	st *writeState
}

// DirApproval is the guard's approval of a directory that labsbx fills (a report or a
// bundle directory). Files in it are approved one by one with File.
type DirApproval struct {
	st *writeState
}

type writeState struct {
	path      string // as approved: absolute and clean
	dir       bool
	format    Format
	dirFormat DirFormat
	scope     WriteScope
	within    string // for files of a DirApproval: the resolved dir they must stay in
}

// writeRun carries one write decision through the steps listed in checks.go.
type writeRun struct {
	st       *writeState
	given    string
	homes    []string
	resolved string      // path with every existing symlink resolved
	info     fs.FileInfo // of resolved; nil for a new path
}

// ApproveWrite approves path for a file of format f. The path must be absolute (a
// command resolves what its user typed against the working directory first).
func ApproveWrite(path string, f Format, scope WriteScope) (FileApproval, error) {
	st := &writeState{path: filepath.Clean(path), format: f, scope: scope}
	if _, _, err := approveWrite(st, path); err != nil {
		return FileApproval{}, err
	}
	return FileApproval{st: st}, nil
}

// ApproveDir approves path for a directory of format f that labsbx creates or fills.
func ApproveDir(path string, f DirFormat, scope WriteScope) (DirApproval, error) {
	st := &writeState{path: filepath.Clean(path), dir: true, dirFormat: f, scope: scope}
	if _, _, err := approveWrite(st, path); err != nil {
		return DirApproval{}, err
	}
	return DirApproval{st: st}, nil
}

func approveWrite(st *writeState, given string) (*writeRun, Report, error) {
	homes := st.scope.Homes
	if homes == nil {
		homes = homeDirs()
	}
	r := &writeRun{st: st, homes: homes}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	what := "file"
	if st.dir {
		what = orDefault(st.dirFormat.Name, "directory")
	} else if st.format.Name != "" {
		what = st.format.Name
	}
	r.given = given
	err := runSteps(&rep, fmt.Sprintf("%s %q", what, st.path), writeChecks, r)
	return r, rep, err
}

func (r *writeRun) absolute() (string, error) {
	if !filepath.IsAbs(r.given) || hasDotDot(r.given) {
		return "", refusef("%q is not an absolute path without '..'", r.given)
	}
	return "", nil
}

// name refuses the name of production's key file, as given.
func (r *writeRun) name() (string, error) {
	if strings.EqualFold(filepath.Base(r.st.path), keyFileName) {
		return "", refusef("%q is named %s, the name of production's unseal keys", r.st.path, keyFileName)
	}
	return "", nil
}

// resolve follows every symlink of the existing part of the path: what is judged
// from here on is where the bytes would land.
func (r *writeRun) resolve() (string, error) {
	res, err := resolveWritePath(r.st.path)
	if err != nil {
		return "", refusef("%q: %w", r.st.path, err)
	}
	r.resolved = res
	if strings.EqualFold(filepath.Base(res), keyFileName) {
		return "", refusef("%q resolves to %q, a file named %s", r.st.path, res, keyFileName)
	}
	if r.st.within != "" && !within(res, r.st.within) {
		return "", refusef("%q resolves to %q, outside the directory %s", r.st.path, res, r.st.within)
	}
	if res == r.st.path {
		return "no symlink", nil
	}
	return "resolves to " + res, nil
}

// resolveWritePath is resolveExisting that also follows a dangling symlink as the last
// element (kubectl writes a kubeconfig through one), by hand and boundedly. A link
// target with a ".." element is refused rather than resolved lexically.
func resolveWritePath(p string) (string, error) {
	for hops := 0; hops < 40; hops++ {
		res, err := resolveExisting(p)
		if err == nil {
			return res, nil
		}
		fi, lerr := os.Lstat(p)
		if lerr != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return "", err
		}
		target, rerr := os.Readlink(p)
		if rerr != nil {
			return "", err
		}
		if hasDotDot(target) {
			return "", fmt.Errorf("the symlink %q points to %q, which has a '..' element", p, target)
		}
		if !filepath.IsAbs(target) {
			dir, derr := filepath.EvalSymlinks(filepath.Dir(p))
			if derr != nil {
				return "", err
			}
			target = filepath.Join(dir, target)
		}
		p = filepath.Clean(target)
	}
	return "", fmt.Errorf("too many levels of symbolic links at %q", p)
}

func (r *writeRun) notArcodange() (string, error) {
	k := &keyRun{homes: r.homes}
	for _, p := range []string{r.st.path, r.resolved} {
		if d := k.underArcodange(p); d != "" {
			return "", refusef("%q is under %s, where production keys live", p, d)
		}
	}
	return "", nil
}

// notState refuses a path inside a labsbx state root, or inside the state dir of any
// sandbox (one of another root is recognised by its state file).
func (r *writeRun) notState() (string, error) {
	for _, root := range r.st.scope.StateRoots {
		if root == "" {
			continue
		}
		clean := filepath.Clean(root)
		res, err := resolveExisting(clean)
		if err != nil {
			res = clean
		}
		for _, p := range []string{r.st.path, r.resolved} {
			for _, d := range []string{clean, res} {
				if p == d || within(p, d) {
					return "", refusef("%q is inside the labsbx state root %s; write it elsewhere", r.st.path, root)
				}
			}
		}
	}
	for _, p := range []string{r.st.path, r.resolved} {
		if d := stateDirAbove(p); d != "" {
			return "", refusef("%q is inside %s, the state dir of a labsbx sandbox; write it elsewhere", r.st.path, d)
		}
	}
	return "", nil
}

// stateDirAbove returns the nearest directory at or above p that holds a labsbx
// sandbox's state (its state file names a labsbx apiVersion), or "".
func stateDirAbove(p string) string {
	for d := p; ; {
		if isStateDir(d) {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// stateMarker is what every labsbx state file holds: its apiVersion's group.
var stateMarker = []byte(`"labsbx.dev/`)

func isStateDir(d string) bool {
	b, err := fsutil.ReadRegular(filepath.Join(d, "state.json"), 1<<20)
	if err == nil && bytes.Contains(b, stateMarker) {
		return true
	}
	fi, err := os.Lstat(filepath.Join(d, "secrets", "vault-keys.json"))
	return err == nil && fi.Mode().IsRegular()
}

// fileType requires a regular file (a directory, for a DirApproval) or a new path
// whose nearest existing ancestor is a directory.
func (r *writeRun) fileType() (string, error) {
	fi, err := os.Stat(r.resolved)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "new path", r.parentIsDir()
	case err != nil:
		return "", refusef("%q: %w", r.st.path, err)
	}
	r.info = fi
	switch {
	case r.st.dir && fi.IsDir():
		return "existing directory", nil
	case r.st.dir:
		return "", refusef("%q is a %s, not a directory", r.st.path, fsutil.TypeName(fi.Mode()))
	case !fi.Mode().IsRegular():
		return "", refusef("%q is a %s, not a regular file", r.st.path, fsutil.TypeName(fi.Mode()))
	}
	return "existing regular file", nil
}

func (r *writeRun) parentIsDir() error {
	for d := filepath.Dir(r.resolved); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return refusef("%q cannot be created: %s is a %s", r.st.path, d, fsutil.TypeName(fi.Mode()))
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			return refusef("%q: %w", r.st.path, err)
		}
	}
}

// content requires an existing file to parse as what labsbx is about to write, and an
// existing directory to be one labsbx may fill.
func (r *writeRun) content() (string, error) {
	if r.info == nil {
		return "", nil
	}
	if r.st.dir {
		return r.dirContent()
	}
	f := r.st.format
	if f.KeepExisting {
		return "exists: kept as it is", nil
	}
	if f.Recognise == nil {
		return "", refusef("%q exists; labsbx writes %s only to a new path", r.st.path, orDefault(f.Name, "this file"))
	}
	data, err := fsutil.ReadRegular(r.resolved, f.maxSize())
	if err != nil {
		return "", refusef("%q cannot be read as %s: %w", r.st.path, orDefault(f.Name, "the file labsbx writes"), err)
	}
	if err := f.Recognise(data); err != nil {
		return "", refusef("%q is not a %s (%v); labsbx replaces only a file of its own kind: give another path", r.st.path, orDefault(f.Name, "file labsbx writes"), err)
	}
	return "parses as " + orDefault(f.Name, "the file labsbx writes"), nil
}

func (r *writeRun) dirContent() (string, error) {
	f := r.st.dirFormat
	if f.Recognise == nil {
		return "", nil
	}
	es, err := os.ReadDir(r.resolved)
	if err != nil {
		return "", refusef("%q cannot be listed: %w", r.st.path, err)
	}
	names := make([]string, 0, len(es))
	for _, e := range es {
		names = append(names, e.Name())
	}
	if err := f.Recognise(names); err != nil {
		return "", refusef("%q is not a %s (%v); give an empty or new directory", r.st.path, orDefault(f.Name, "directory labsbx fills"), err)
	}
	return "holds a " + orDefault(f.Name, "directory labsbx fills"), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// recheck re-runs the approval and returns the resolved path.
func (st *writeState) recheck(kind string) (*writeRun, error) {
	if st == nil {
		return nil, zeroRefusal(kind)
	}
	r, _, err := approveWrite(st, st.path)
	return r, err
}

// Path returns the approved path as given ("" for a zero approval).
func (a FileApproval) Path() string {
	if a.st == nil {
		return ""
	}
	return a.st.path
}

// Read returns the file's current content, or nil when it does not exist yet. The
// checks run again first, and the read is bounded and never blocks.
func (a FileApproval) Read() ([]byte, error) {
	r, err := a.st.recheck("FileApproval")
	if err != nil {
		return nil, err
	}
	if r.info == nil {
		return nil, nil
	}
	return fsutil.ReadRegular(r.resolved, a.st.format.maxSize())
}

// Exists reports whether the approved file existed at the last check.
func (a FileApproval) Exists() (bool, error) {
	r, err := a.st.recheck("FileApproval")
	if err != nil {
		return false, err
	}
	return r.info != nil, nil
}

// Mode is the existing file's permission bits, or def for a new path.
func (a FileApproval) Mode(def fs.FileMode) (fs.FileMode, error) {
	r, err := a.st.recheck("FileApproval")
	if err != nil {
		return 0, err
	}
	if r.info == nil {
		return def, nil
	}
	return r.info.Mode().Perm(), nil
}

// WriteAtomic writes data where the approved path resolves (through a symlinked file,
// as kubectl does): a temp file beside it, fsynced and renamed into place. The checks
// run again first.
func (a FileApproval) WriteAtomic(data []byte, mode fs.FileMode) error {
	return a.WriteFrom(mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom is WriteAtomic for content that fill streams (an image archive): the file
// appears only complete. A file of a KeepExisting format that exists is refused.
func (a FileApproval) WriteFrom(mode fs.FileMode, fill func(io.Writer) error) (err error) {
	r, err := a.st.recheck("FileApproval")
	if err != nil {
		return err
	}
	if r.info != nil && a.st.format.KeepExisting {
		return refusef("%q exists and labsbx keeps it as it is", a.st.path)
	}
	dir := filepath.Dir(r.resolved)
	if err := os.MkdirAll(dir, fsutil.DirMode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(r.resolved)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", a.st.path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", a.st.path, err)
	}
	if err = fill(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", a.st.path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", a.st.path, err)
	}
	// The checks again, right before the rename: nothing swapped in meanwhile is hit.
	if _, err = a.st.recheck("FileApproval"); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), r.resolved); err != nil {
		return fmt.Errorf("write %s: %w", a.st.path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Open opens the existing file for reading: bounded by nothing, but never a FIFO,
// a device or a symlink swapped in after approval. The checks run again first.
func (a FileApproval) Open() (*os.File, error) {
	r, err := a.st.recheck("FileApproval")
	if err != nil {
		return nil, err
	}
	return fsutil.OpenRegular(r.resolved)
}

// ErrLockBusy is returned by Lock when another writer holds the lock past the wait.
var ErrLockBusy = errors.New("file is locked by another writer")

// Lock takes <file>.lock beside the resolved file, as kubectl does while it edits a
// kubeconfig, waiting up to wait for another holder. The lock is created with
// O_CREATE|O_EXCL, which never opens or follows anything that exists, in a directory
// the checks approved. unlock removes it.
func (a FileApproval) Lock(wait time.Duration) (unlock func(), err error) {
	r, err := a.st.recheck("FileApproval")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(r.resolved), fsutil.DirMode); err != nil {
		return nil, err
	}
	lock := r.resolved + ".lock"
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_ = f.Close()
			return func() { _ = os.Remove(lock) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s exists; if no kubectl or labsbx is running, remove it", ErrLockBusy, lock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Path returns the approved directory as given ("" for a zero approval).
func (a DirApproval) Path() string {
	if a.st == nil {
		return ""
	}
	return a.st.path
}

// MkdirAll creates the directory, and sub-directories rel (local paths) in it, with
// mode perm. The checks run again first, and each sub-directory must resolve inside it.
func (a DirApproval) MkdirAll(perm fs.FileMode, rel ...string) error {
	r, err := a.st.recheck("DirApproval")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.resolved, perm); err != nil {
		return err
	}
	for _, sub := range rel {
		sa, err := a.Dir(sub)
		if err != nil {
			return err
		}
		if err := sa.MkdirAll(perm); err != nil {
			return err
		}
	}
	return nil
}

// Dir approves the sub-directory rel (a local path) of the directory.
func (a DirApproval) Dir(rel string) (DirApproval, error) {
	st, err := a.child(rel, Format{}, true)
	if err != nil {
		return DirApproval{}, err
	}
	return DirApproval{st: st}, nil
}

// File approves the file rel (a local path) in the directory, for format f. It must
// resolve inside the directory as well as pass every check of ApproveWrite.
func (a DirApproval) File(rel string, f Format) (FileApproval, error) {
	st, err := a.child(rel, f, false)
	if err != nil {
		return FileApproval{}, err
	}
	return FileApproval{st: st}, nil
}

func (a DirApproval) child(rel string, f Format, dir bool) (*writeState, error) {
	r, err := a.st.recheck("DirApproval")
	if err != nil {
		return nil, err
	}
	if !filepath.IsLocal(rel) {
		return nil, refusef("%q is not a path inside %s", rel, a.st.path)
	}
	st := &writeState{path: filepath.Join(a.st.path, rel), dir: dir, format: f, scope: a.st.scope, within: r.resolved}
	if _, _, err := approveWrite(st, st.path); err != nil {
		return nil, err
	}
	return st, nil
}
