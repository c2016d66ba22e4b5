package guard

import (
	"io/fs"
	"path/filepath"
	"strings"
)

// A key path is judged by what a file is, not only by what it is called: a bind mount
// of ~/.arcodange (or of a directory in it) and a hard link to a key in it show the
// same device and inode under another name. keyRun.underArcodange asks for both.

// fileID is a file's identity: its device and inode.
type fileID struct{ dev, ino uint64 }

// maxArcodangeEntries bounds the walk of a ~/.arcodange (a dir of a few keys): past
// it, the rest is judged by name only.
const maxArcodangeEntries = 10000

// arcodangeIDs is the identity of each home's ~/.arcodange and of every directory and
// file in it (symlinks are not followed: what they point to is judged where it is),
// mapped to that ~/.arcodange.
func arcodangeIDs(homes []string) map[fileID]string {
	ids := map[fileID]string{}
	n := 0
	for _, h := range homes {
		root := filepath.Join(h, ".arcodange")
		rootID, ok := statID(root)
		if !ok {
			continue
		}
		ids[rootID] = root
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || n >= maxArcodangeEntries {
				return filepath.SkipDir
			}
			n++
			if d.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			if id, ok := lstatID(p); ok {
				ids[id] = root
			}
			return nil
		})
	}
	return ids
}

// arcodangeByID returns the ~/.arcodange that p is, is in, or is a hard link into, by
// identity, or "": p itself when it exists, and every existing directory above it.
func (r *keyRun) arcodangeByID(p string) string {
	if r.ids == nil {
		r.ids = arcodangeIDs(r.homes)
	}
	if len(r.ids) == 0 || !filepath.IsAbs(p) {
		return ""
	}
	for cur := filepath.Clean(p); ; {
		if id, ok := statID(cur); ok {
			if d, hit := r.ids[id]; hit {
				return d
			}
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return ""
		}
		cur = parent
	}
}

// keyFileRefusal judges a file that labsbx is about to open on someone's say-so (a
// kubeconfig's token file, client certificate or key, CA file, exec plugin): nil,
// or why it is a key path, without opening it. what names the file for the refusal.
func keyFileRefusal(what, p string, homes []string) error {
	if p == "" {
		return nil
	}
	if strings.EqualFold(filepath.Base(p), keyFileName) {
		return refusef("%s %q is named %s, the name of production's unseal keys", what, p, keyFileName)
	}
	r := &keyRun{homes: homes}
	if r.homes == nil {
		r.homes = homeDirs()
	}
	if d := r.underArcodange(p); d != "" {
		return refusef("%s %q is under %s, where production keys live; labsbx does not open it", what, p, d)
	}
	if res, err := resolveExisting(p); err == nil && res != p {
		if strings.EqualFold(filepath.Base(res), keyFileName) {
			return refusef("%s %q resolves to a file named %s", what, p, keyFileName)
		}
		if d := r.underArcodange(res); d != "" {
			return refusef("%s %q resolves to %q, under %s, where production keys live; labsbx does not open it", what, p, res, d)
		}
	}
	return nil
}
