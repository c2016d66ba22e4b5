package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/config"
)

// Every state root labsbx has used is recorded, per user, so that a `down` run from
// the wrong LABSBX_HOME can name the root that owns what it found, instead of
// offering to delete it. up records its root; lookups also read the default root
// (where labsbx looks without LABSBX_HOME) whether or not it is recorded.

// EnvConfigHome places the registry of state roots.
const EnvConfigHome = "XDG_CONFIG_HOME"

// maxRootsSize bounds the read of the registry.
const maxRootsSize = 1 << 20

// RootsFile is the registry: $XDG_CONFIG_HOME/labsbx/roots.json, else
// ~/.config/labsbx/roots.json.
func RootsFile(getenv func(string) string) (string, error) {
	if v := getenv(EnvConfigHome); v != "" {
		return filepath.Abs(filepath.Join(v, "labsbx", "roots.json"))
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the registry of state roots: set %s: %w", EnvConfigHome, err)
	}
	return filepath.Join(home, ".config", "labsbx", "roots.json"), nil
}

// DefaultRoot is the state root labsbx uses without LABSBX_HOME.
func DefaultRoot(getenv func(string) string) (string, error) {
	return StateRoot(func(k string) string {
		if k == EnvHome {
			return ""
		}
		return getenv(k)
	})
}

type rootsDoc struct {
	APIVersion string   `json:"apiVersion"`
	Roots      []string `json:"roots"`
}

// readRoots reads the registry; a missing one is empty.
func readRoots(file string) ([]string, error) {
	b, err := fsutil.ReadRegular(file, maxRootsSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the registry of state roots: %w", err)
	}
	var doc rootsDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.APIVersion != config.APIVersion {
		return nil, fmt.Errorf("the registry of state roots %s is not one labsbx wrote", file)
	}
	return doc.Roots, nil
}

// RegisterRoot records root in the registry (once). The registry is labsbx's own file
// (0600 in a 0700 dir), written atomically; roots that no longer exist are dropped.
func RegisterRoot(getenv func(string) string, root string) error {
	file, err := RootsFile(getenv)
	if err != nil {
		return err
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return err
	}
	roots, err := readRoots(file)
	if err != nil {
		return err
	}
	if slices.Contains(roots, root) {
		return nil
	}
	kept := []string{}
	for _, r := range roots {
		if fi, err := os.Stat(r); err == nil && fi.IsDir() {
			kept = append(kept, r)
		}
	}
	b, err := json.MarshalIndent(rootsDoc{APIVersion: config.APIVersion, Roots: append(kept, root)}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(file, append(b, '\n'), fsutil.SecretMode)
}

// KnownRoots are the state roots labsbx knows of: current first, then the default
// root, then every registered one that exists. An unreadable registry is reported
// beside the roots it did not hide.
func KnownRoots(getenv func(string) string, current string) ([]string, error) {
	var out []string
	add := func(r string) {
		if r == "" {
			return
		}
		if abs, err := filepath.Abs(r); err == nil {
			r = abs
		}
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() || slices.Contains(out, r) {
			return
		}
		out = append(out, r)
	}
	add(current)
	if d, err := DefaultRoot(getenv); err == nil {
		add(d)
	}
	file, err := RootsFile(getenv)
	if err != nil {
		return out, err
	}
	roots, err := readRoots(file)
	for _, r := range roots {
		add(r)
	}
	return out, err
}

// Peeked is who a state says a sandbox is, read without changing anything.
type Peeked struct {
	Root, Name, UUID string
	// ClusterID is the Vault cluster_id the state recorded ("": none).
	ClusterID string
	// Dir is the sandbox's state dir.
	Dir string
}

// Peek reads the state of sandbox name in root for its identity only: no lock, no
// mode repair, nothing written (it may be another root's).
func Peek(root, name string) (*Peeked, error) {
	if err := config.ValidateName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, name)
	b, err := fsutil.ReadRegular(filepath.Join(dir, stateFile), maxStateSize)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil || s.APIVersion != config.APIVersion || s.Name != name || s.UUID == "" {
		return nil, fmt.Errorf("%w: %s", ErrCorruptState, filepath.Join(dir, stateFile))
	}
	p := &Peeked{Root: root, Name: name, UUID: s.UUID, Dir: dir}
	if s.Vault != nil {
		p.ClusterID = s.Vault.ClusterID
	}
	return p, nil
}

// FindOwner is the state of sandbox name, in one of roots, that records uuid: the
// owner of Docker objects that carry it.
func FindOwner(roots []string, name, uuid string) (*Peeked, bool) {
	for _, r := range roots {
		if p, err := Peek(r, name); err == nil && p.UUID == uuid {
			return p, true
		}
	}
	return nil, false
}

// FindClusterID is the state of sandbox name, in one of roots, that records Vault
// cluster_id id.
func FindClusterID(roots []string, name, id string) (*Peeked, bool) {
	if id == "" {
		return nil, false
	}
	for _, r := range roots {
		if p, err := Peek(r, name); err == nil && p.ClusterID == id {
			return p, true
		}
	}
	return nil, false
}
