package guard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/arcodange/labsbx/internal/fsutil"
)

// keyFileName is a name no sandbox key file may have: production's unseal
// keys live in ~/.arcodange/cluster-keys.json.
const keyFileName = "cluster-keys.json"

// maxKeyFileSize bounds a key file read.
const maxKeyFileSize = 1 << 20

// KeyPath is an approved location for an unseal key or root token: inside the
// sandbox state dir. It can only be obtained from ApproveKeyPath; its zero
// value refuses. Every read and write re-runs the checks, so a symlink swapped
// in after approval is still refused.
type KeyPath struct {
	st *keyState
}

type keyState struct {
	rec  Record
	path string // as approved (absolute, clean)
}

type keyRun struct {
	rec      Record
	path     string
	homes    []string          // home directories, from $HOME and the user database
	state    string            // clean state dir
	stateRes string            // state dir with symlinks resolved
	clean    string            // clean path
	resolved string            // path with every existing symlink resolved
	ids      map[fileID]string // identities in ~/.arcodange (arcodangeIDs), read once
}

// ApproveKeyPath approves path for an unseal key or root token of rec.
// Relative paths are refused rather than resolved: a CLI user means the
// current directory, labsbx code means the state dir, and guessing either is
// how a key lands in the wrong place. Join with rec.StateDir first.
func ApproveKeyPath(rec Record, path string) (KeyPath, error) {
	_, _, err := approveKeyPath(rec, path, nil)
	if err != nil {
		return KeyPath{}, err
	}
	return KeyPath{st: &keyState{rec: rec, path: filepath.Clean(path)}}, nil
}

func approveKeyPath(rec Record, path string, homes []string) (*keyRun, Report, error) {
	if homes == nil {
		homes = homeDirs()
	}
	r := &keyRun{rec: rec, path: path, homes: homes}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	err := runSteps(&rep, fmt.Sprintf("key path %q", path), keyChecks, r)
	return r, rep, err
}

// homeDirs returns every home directory the user may have: $HOME can differ
// from the user database entry, and production keys may be under either.
func homeDirs() []string {
	var homes []string
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		homes = append(homes, h)
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		homes = append(homes, u.HomeDir)
	}
	return homes
}

func (r *keyRun) stateDir() (string, error) {
	sd := r.rec.StateDir
	if sd == "" || !filepath.IsAbs(sd) {
		return "", refusef("sandbox %q has no absolute state dir recorded", r.rec.Name)
	}
	if hasDotDot(sd) {
		return "", refusef("state dir %q contains '..'", sd)
	}
	r.state = filepath.Clean(sd)
	res, err := filepath.EvalSymlinks(r.state)
	if err != nil {
		return "", refusef("state dir %q: %w", sd, err)
	}
	fi, err := os.Stat(res)
	if err != nil || !fi.IsDir() {
		return "", refusef("state dir %q is not a directory", sd)
	}
	r.stateRes = res
	for _, p := range []string{r.state, r.stateRes} {
		if d := r.underArcodange(p); d != "" {
			return "", refusef("state dir %q is under %s, where production keys live", sd, d)
		}
	}
	return r.stateRes, nil
}

func (r *keyRun) absolute() (string, error) {
	if !filepath.IsAbs(r.path) {
		return "", refusef("key path %q is relative; give an absolute path inside %s", r.path, r.state)
	}
	return "", nil
}

func (r *keyRun) noDotDot() (string, error) {
	if hasDotDot(r.path) {
		return "", refusef("key path %q contains '..'", r.path)
	}
	r.clean = filepath.Clean(r.path)
	return "", nil
}

func (r *keyRun) name() (string, error) {
	if strings.EqualFold(filepath.Base(r.clean), keyFileName) {
		return "", refusef("key path %q is named %s, the name of production's unseal keys", r.path, keyFileName)
	}
	return "", nil
}

func (r *keyRun) notArcodange() (string, error) {
	if d := r.underArcodange(r.clean); d != "" {
		return "", refusef("key path %q is under %s, where production keys live", r.path, d)
	}
	res, err := resolveExisting(r.clean)
	if err != nil {
		return "", refusef("key path %q: %w", r.path, err)
	}
	r.resolved = res
	if d := r.underArcodange(res); d != "" {
		return "", refusef("key path %q resolves to %q, under %s, where production keys live", r.path, res, d)
	}
	if strings.EqualFold(filepath.Base(res), keyFileName) {
		return "", refusef("key path %q resolves to a file named %s", r.path, keyFileName)
	}
	return "", nil
}

func (r *keyRun) insideState() (string, error) {
	if !within(r.clean, r.state) {
		return "", refusef("key path %q is not inside the state dir %s of sandbox %q", r.path, r.state, r.rec.Name)
	}
	if !within(r.resolved, r.stateRes) {
		return "", refusef("key path %q resolves to %q, outside the state dir %s", r.path, r.resolved, r.stateRes)
	}
	if fi, err := os.Lstat(r.resolved); err == nil && !fi.Mode().IsRegular() {
		return "", refusef("key path %q is not a regular file (%s)", r.path, fi.Mode().Type())
	}
	return r.resolved, nil
}

// underArcodange returns the ~/.arcodange directory p is in (or is), or "": by name
// (the comparison ignores case: macOS file systems usually do), and by identity, so
// that a bind mount or a hard link is caught too (arcodangeByID).
func (r *keyRun) underArcodange(p string) string {
	if d := r.underArcodangeByName(p); d != "" {
		return d
	}
	return r.arcodangeByID(p)
}

func (r *keyRun) underArcodangeByName(p string) string {
	for _, h := range r.homes {
		dirs := []string{filepath.Join(h, ".arcodange")}
		if hr, err := filepath.EvalSymlinks(h); err == nil {
			dirs = append(dirs, filepath.Join(hr, ".arcodange"))
		}
		if ar, err := filepath.EvalSymlinks(filepath.Join(h, ".arcodange")); err == nil {
			dirs = append(dirs, ar)
		}
		for _, d := range dirs {
			if withinFold(p, d) || strings.EqualFold(filepath.Clean(p), filepath.Clean(d)) {
				return filepath.Join(h, ".arcodange")
			}
		}
	}
	return ""
}

// hasDotDot reports whether p has a ".." element (before any cleaning).
func hasDotDot(p string) bool {
	for _, el := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == filepath.Separator }) {
		if el == ".." {
			return true
		}
	}
	return false
}

// within reports whether p is strictly inside dir (both clean, absolute).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && !hasDotDot(rel) && !filepath.IsAbs(rel)
}

func withinFold(p, dir string) bool {
	return within(strings.ToLower(filepath.Clean(p)), strings.ToLower(filepath.Clean(dir)))
}

// resolveExisting resolves every symlink in the longest existing prefix of p
// and appends the rest. A dangling symlink or a loop is an error.
func resolveExisting(p string) (string, error) {
	rest := ""
	cur := p
	for {
		if _, err := os.Lstat(cur); err == nil {
			res, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return "", fmt.Errorf("cannot resolve %q: %w", cur, err)
			}
			return filepath.Join(res, rest), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("cannot inspect %q: %w", cur, err)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// recheck re-runs the approval and returns the resolved path to operate on.
func (k KeyPath) recheck() (string, error) {
	if k.st == nil {
		return "", zeroRefusal("KeyPath")
	}
	r, _, err := approveKeyPath(k.st.rec, k.st.path, nil)
	if err != nil {
		return "", err
	}
	return r.resolved, nil
}

// Path returns the approved path ("" for a zero KeyPath).
func (k KeyPath) Path() string {
	if k.st == nil {
		return ""
	}
	return k.st.path
}

// ReadFile reads the key file, refusing a symlink or non-regular file.
func (k KeyPath) ReadFile() ([]byte, error) {
	p, err := k.recheck()
	if err != nil {
		return nil, err
	}
	data, err := fsutil.ReadRegularNoFollow(p, maxKeyFileSize)
	switch {
	case errors.Is(err, fsutil.ErrNotRegular):
		return nil, refusef("key file %q is not a regular file", k.st.path)
	case errors.Is(err, fsutil.ErrTooLarge):
		return nil, refusef("key file %q is larger than %d bytes", k.st.path, maxKeyFileSize)
	case err != nil:
		return nil, fmt.Errorf("reading key file %q: %w", k.st.path, err)
	}
	return data, nil
}

// WriteFile writes the key file atomically: a temp file in the same
// directory (mode 0600, fsynced), renamed over the target, then the directory
// fsynced. Directories it creates, and the one it writes in, are mode 0700.
func (k KeyPath) WriteFile(data []byte) (err error) {
	p, err := k.recheck()
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating key dir for %q: %w", k.st.path, err)
	}
	// MkdirAll followed whatever was there: check again before writing.
	if p, err = k.recheck(); err != nil {
		return err
	}
	dir = filepath.Dir(p)
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing key dir for %q: %w", k.st.path, err)
	}
	tmp, err := os.CreateTemp(dir, ".labsbx-key-*")
	if err != nil {
		return fmt.Errorf("writing key file %q: %w", k.st.path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing key file %q: %w", k.st.path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing key file %q: %w", k.st.path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing key file %q: %w", k.st.path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing key file %q: %w", k.st.path, err)
	}
	if err = os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("renaming key file into %q: %w", k.st.path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every OS syncs directories
		d.Close()
	}
	return nil
}
