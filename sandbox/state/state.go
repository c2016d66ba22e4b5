package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/vm"
)

// Environment variables that place the state root.
const (
	EnvHome = "LABSBX_HOME"
	EnvXDG  = "XDG_STATE_HOME"
)

const stateFile = "state.json"

// maxStateSize bounds the read of a state file (a real one is a few KiB).
const maxStateSize = 16 << 20

// ErrNotFound is returned when no sandbox of that name exists in the state root.
var ErrNotFound = errors.New("sandbox not found")

// ErrCorruptState is returned for a state file that cannot be read as one.
var ErrCorruptState = errors.New("sandbox state is corrupt")

// StateRoot is $LABSBX_HOME, else $XDG_STATE_HOME/labsbx, else ~/.local/state/labsbx.
func StateRoot(getenv func(string) string) (string, error) {
	if v := getenv(EnvHome); v != "" {
		return filepath.Abs(v)
	}
	if v := getenv(EnvXDG); v != "" {
		return filepath.Abs(filepath.Join(v, "labsbx"))
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state root: set %s: %w", EnvHome, err)
	}
	return filepath.Join(home, ".local", "state", "labsbx"), nil
}

// Phase is where a sandbox is in its life.
type Phase string

const (
	PhaseCreating Phase = "creating" // up started and has not finished; the next up resumes
	PhaseReady    Phase = "ready"
	PhaseFailed   Phase = "failed" // the last up failed; the next up resumes
	PhaseDeleting Phase = "deleting"
	PhaseRemoved  Phase = "removed" // down --keep-state: the containers are gone, the state stays
)

// State is what labsbx recorded about one sandbox. It holds no secret: secrets live in
// files of their own under the secrets/ dir (see Secrets).
type State struct {
	APIVersion string      `json:"apiVersion"`
	Name       string      `json:"name"`
	UUID       string      `json:"uuid"`
	Profile    string      `json:"profile"`
	Phase      Phase       `json:"phase"`
	CreatedAt  time.Time   `json:"createdAt"`
	UpdatedAt  time.Time   `json:"updatedAt"`
	Spec       config.Spec `json:"spec"`
	// EngineID is the identity of the Docker engine the sandbox was created on
	// (guard.EngineIdentity: its ID and data root): the guard refuses another engine
	// behind the same socket or DOCKER_HOST.
	EngineID string       `json:"engineID,omitempty"`
	Docker   *DockerState `json:"docker,omitempty"`
	Kube     *KubeState   `json:"kube,omitempty"`
	// Cluster is the full profile's k3d cluster.
	Cluster *ClusterState `json:"cluster,omitempty"`
	Vault   *VaultState   `json:"vault,omitempty"`
	// Faults are drill faults injected and not yet undone (see scenarios).
	Faults []Fault `json:"faults,omitempty"`
	// VMs are the sandbox's arm64 VMs, in order (vm-0, vm-1, …). Each one's PID file,
	// console log, overlay and seed live under <state dir>/vms/<vm>/.
	VMs []VMState `json:"vms,omitempty"`

	dir string
}

// DockerState records the Docker objects of the vault profile.
type DockerState struct {
	Network      string            `json:"network"`
	Containers   map[string]string `json:"containers,omitempty"` // component -> container ID
	Volumes      []string          `json:"volumes,omitempty"`
	PostgresPort int               `json:"postgresPort,omitempty"` // on 127.0.0.1
	// PostgresFromTemplate: Postgres's volume was filled from the data template and its
	// superuser does not have the sandbox's password yet (it holds nothing else: a
	// resumed up starts it afresh).
	PostgresFromTemplate bool `json:"postgresFromTemplate,omitempty"`
}

// KubeState records the cluster that labsbx created, for the guard.
type KubeState struct {
	Kubeconfig    string `json:"kubeconfig"`
	Context       string `json:"context"`
	Cluster       string `json:"cluster"`
	User          string `json:"user"`
	Server        string `json:"server"`
	CAFingerprint string `json:"caFingerprint"`
	AuthPlugin    string `json:"authPlugin,omitempty"`
	MarkerWritten bool   `json:"markerWritten"`
	// Merged is what `kubeconfig merge` (or up --merge-kubeconfig) added to a user's
	// kubeconfig; down removes it.
	Merged *cluster.Merged `json:"merged,omitempty"`
}

// VaultState records the Vault that labsbx created and initialised.
type VaultState struct {
	Addr        string    `json:"addr"`
	ContainerID string    `json:"containerID,omitempty"`
	ClusterID   string    `json:"clusterID,omitempty"`
	Version     string    `json:"version,omitempty"`
	InitAt      time.Time `json:"initAt,omitzero"`
}

// Fault is a drill fault recorded before it is injected, so that an interrupted drill
// can be undone by `labsbx drill recover` or the next `up`.
type Fault struct {
	Scenario   string    `json:"scenario"`
	Kind       string    `json:"kind"`
	Detail     string    `json:"detail,omitempty"`
	InjectedAt time.Time `json:"injectedAt"`
}

// Dir is the sandbox's state directory.
func (s *State) Dir() string { return s.dir }

// Store is the state root: one directory per sandbox.
type Store struct {
	Root string
	// Warn receives one line for each state dir or file whose loosened mode was
	// repaired (nil: the repairs are silent).
	Warn func(msg string)
}

// NewStore creates the root (0700) if needed.
func NewStore(root string) (*Store, error) {
	if err := os.MkdirAll(root, fsutil.DirMode); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	return &Store{Root: root}, nil
}

// Dir is the state directory of sandbox name.
func (st *Store) Dir(name string) string { return filepath.Join(st.Root, name) }

// New returns a fresh, unsaved state for a sandbox.
func (st *Store) New(name string, spec config.Spec, now time.Time) *State {
	return &State{
		APIVersion: config.APIVersion, Name: name, UUID: uuid.NewString(), Profile: spec.Profile,
		Phase: PhaseCreating, CreatedAt: now, UpdatedAt: now, Spec: spec, dir: st.Dir(name),
	}
}

// Stub is a state that records only a sandbox's name and UUID, in this root: what
// `down --uuid` vouches for when the state file cannot be read.
func (st *Store) Stub(name, uuid string) *State {
	return &State{APIVersion: config.APIVersion, Name: name, UUID: uuid, dir: st.Dir(name)}
}

// Load reads the state of sandbox name, or returns ErrNotFound.
func (st *Store) Load(name string) (*State, error) {
	if err := config.ValidateName(name); err != nil {
		return nil, err
	}
	dir := st.Dir(name)
	st.repairModes(dir)
	b, err := fsutil.ReadRegular(filepath.Join(dir, stateFile), maxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q (in %s); run `labsbx up --name %s` to create it", ErrNotFound, name, st.Root, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	corrupt := func(why string) error {
		return fmt.Errorf("%w: %s (%s); run `labsbx down --name %s` to remove the sandbox: it removes what it can prove is this sandbox's and lists the rest with the flag that removes it",
			ErrCorruptState, why, filepath.Join(dir, stateFile), name)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, corrupt("it is not valid JSON")
	}
	if s.APIVersion != config.APIVersion {
		return nil, fmt.Errorf("state of sandbox %q has version %q; this labsbx reads %q: use the labsbx that made it, or remove it with `labsbx down --name %s`", name, s.APIVersion, config.APIVersion, name)
	}
	if s.Name != name {
		return nil, corrupt(fmt.Sprintf("it names sandbox %q, not %q", s.Name, name))
	}
	if _, err := uuid.Parse(s.UUID); err != nil {
		return nil, corrupt("it records no valid sandbox UUID")
	}
	s.dir = dir
	return &s, nil
}

// Save writes the state atomically (0600 in a 0700 dir).
func (st *Store) Save(s *State, now time.Time) error {
	s.UpdatedAt = now
	if s.dir == "" {
		s.dir = st.Dir(s.Name)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(s.dir, stateFile), append(b, '\n'), fsutil.SecretMode)
}

// Remove deletes a sandbox's state directory.
func (st *Store) Remove(name string) error {
	if err := config.ValidateName(name); err != nil {
		return err
	}
	return os.RemoveAll(st.Dir(name))
}

// List returns every sandbox in the root, by name. Unreadable entries are returned as
// errors beside the good ones, so that one bad dir does not hide the rest.
func (st *Store) List() ([]*State, []error) {
	entries, err := os.ReadDir(st.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []*State
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || config.ValidateName(e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(st.Root, e.Name(), stateFile)); err != nil {
			continue
		}
		s, err := st.Load(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

// repairModes takes group and other permissions off the state root and everything in a
// sandbox's state dir (keys, passwords, kubeconfigs): they are the user's alone. Each
// repair is reported through Warn. Symlinks are not followed.
func (st *Store) repairModes(dir string) {
	repair := func(p string, fi fs.FileInfo) {
		if fi.Mode()&fs.ModeSymlink != 0 || !(fi.IsDir() || fi.Mode().IsRegular()) {
			return
		}
		perm := fi.Mode().Perm()
		if perm&0o077 == 0 {
			return
		}
		want := perm &^ 0o077
		if fi.IsDir() {
			want |= 0o700
		}
		if err := os.Chmod(p, want); err != nil {
			st.warn(fmt.Sprintf("%s has mode %04o, readable by others, and could not be repaired: %v", p, perm, err))
			return
		}
		st.warn(fmt.Sprintf("repaired the mode of %s from %04o to %04o: labsbx state is private to its user", p, perm, want))
	}
	if fi, err := os.Lstat(st.Root); err == nil {
		repair(st.Root, fi)
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // best effort: an entry that cannot be read is skipped, the walk goes on
		}
		if fi, err := d.Info(); err == nil {
			repair(p, fi)
		}
		return nil
	})
}

func (st *Store) warn(msg string) {
	if st.Warn != nil {
		st.Warn(msg)
	}
}

// ClusterState records the full profile's cluster.
type ClusterState struct {
	Name       string `json:"name"`
	APIPort    int    `json:"apiPort"` // on 127.0.0.1
	ServerNode string `json:"serverNode"`
	// Imported maps each image imported into the nodes to its image ID then, so that a
	// second up imports only what changed.
	Imported map[string]string `json:"imported,omitempty"`
}

// VMState is what the state records about one arm64 VM (see package vm).
type VMState = vm.State

// VM returns the recorded VM called name, or nil.
func (s *State) VM(name string) *VMState {
	for i := range s.VMs {
		if s.VMs[i].Name == name {
			return &s.VMs[i]
		}
	}
	return nil
}
