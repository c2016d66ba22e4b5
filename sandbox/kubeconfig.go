package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// ErrNoCluster is returned for kubeconfig operations on a sandbox without a cluster.
var ErrNoCluster = errors.New("sandbox has no cluster")

// DefaultMergeTarget is the kubeconfig that `kubeconfig merge` writes unless told
// otherwise: ~/.kube/config. $KUBECONFIG is not read (labsbx drops it at start).
func DefaultMergeTarget() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory (%w); give --kubeconfig", err)
	}
	return filepath.Join(home, ".kube", "config"), nil
}

// approvedKubeconfig returns the sandbox's own kubeconfig once the guard approved it
// offline as the cluster the state records.
func approvedKubeconfig(st *state.State) (string, error) {
	if st.Kube == nil || st.Kube.Kubeconfig == "" {
		return "", fmt.Errorf("%w: sandbox %q (profile %s) has no kubeconfig; the full profile writes one, the vault profile runs Vault and Postgres as containers (see `labsbx env --name %s`)",
			ErrNoCluster, st.Name, st.Profile, st.Name)
	}
	if _, _, err := guard.ApproveKube(st.GuardRecord(), []string{st.Kube.Kubeconfig}, st.Kube.Context); err != nil {
		return "", err
	}
	return st.Kube.Kubeconfig, nil
}

// KubeconfigPath is the path of the sandbox's kubeconfig, once the guard has checked
// it against the record (`labsbx kubeconfig path`).
type KubeconfigPath struct {
	cfg  *Configuration
	Name string
}

// NewKubeconfigPath prepares it.
func NewKubeconfigPath(cfg *Configuration) *KubeconfigPath { return &KubeconfigPath{cfg: cfg} }

// Run returns the path.
func (k *KubeconfigPath) Run() (string, error) {
	st, err := k.cfg.Store.Load(k.Name)
	if err != nil {
		return "", err
	}
	return approvedKubeconfig(st)
}

// maxKubeconfigRead bounds `kubeconfig get`'s read of the state's kubeconfig.
const maxKubeconfigRead = 4 << 20

// Contents reads the approved kubeconfig (`labsbx kubeconfig get`): it holds the
// cluster admin's key.
func (k *KubeconfigPath) Contents() ([]byte, error) {
	p, err := k.Run()
	if err != nil {
		return nil, err
	}
	return fsutil.ReadRegular(p, maxKubeconfigRead)
}

// KubeconfigMerge adds the sandbox's context to the kubeconfig at Target (and makes it
// current when SwitchContext), and records what it added so that down removes it
// (`labsbx kubeconfig merge`). The guard judges Target first.
type KubeconfigMerge struct {
	cfg           *Configuration
	Name, Target  string
	SwitchContext bool
}

// NewKubeconfigMerge prepares a merge.
func NewKubeconfigMerge(cfg *Configuration) *KubeconfigMerge { return &KubeconfigMerge{cfg: cfg} }

// Run merges.
func (k *KubeconfigMerge) Run() (m *cluster.Merged, err error) {
	c := k.cfg
	err = c.withState(k.Name, func(st *state.State) error {
		if m, err = c.merge(st, k.Target, k.SwitchContext); err != nil {
			return err
		}
		return c.Store.Save(st, c.now())
	})
	return m, err
}

// withState runs fn on the sandbox's state under its lock.
func (c *Configuration) withState(name string, fn func(*state.State) error) error {
	lock, err := c.Store.Lock(name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	st, err := c.Store.Load(name)
	if err != nil {
		return err
	}
	return fn(st)
}

// merge is MergeKubeconfig under the caller's lock; it records the merge in st (the
// caller saves it).
func (c *Configuration) merge(st *state.State, target string, switchContext bool) (*cluster.Merged, error) {
	path, err := approvedKubeconfig(st)
	if err != nil {
		return nil, err
	}
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %s", path, guard.KubeconfigErrReason(err))
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return nil, err
	}
	prev := st.Kube.Merged
	if prev != nil && prev.Path != abs {
		return nil, fmt.Errorf("sandbox %q is already merged into %s; run `labsbx kubeconfig unmerge --name %s` first", st.Name, prev.Path, st.Name)
	}
	file, err := guard.ApproveWrite(abs, guard.KubeconfigFormat, c.WriteScope())
	if err != nil {
		return nil, err
	}
	m, err := cluster.Merge(file, kc, *st.GuardRecord().Kube, switchContext, prev)
	if err != nil {
		return nil, err
	}
	st.Kube.Merged = m
	return m, nil
}

// KubeconfigUnmerge removes what a merge added (`labsbx kubeconfig unmerge`); it is
// harmless when nothing was merged.
type KubeconfigUnmerge struct {
	cfg  *Configuration
	Name string
}

// NewKubeconfigUnmerge prepares an unmerge.
func NewKubeconfigUnmerge(cfg *Configuration) *KubeconfigUnmerge { return &KubeconfigUnmerge{cfg: cfg} }

// UnmergeResult lists what was removed.
type UnmergeResult struct {
	Removed []string `json:"removed"`
}

// Run removes it.
func (k *KubeconfigUnmerge) Run() (*UnmergeResult, error) {
	res := &UnmergeResult{}
	err := k.cfg.withState(k.Name, func(st *state.State) error {
		var err error
		res.Removed, err = k.cfg.unmerge(st)
		return err
	})
	return res, err
}

func (c *Configuration) unmerge(st *state.State) ([]string, error) {
	if st.Kube == nil || st.Kube.Merged == nil {
		return nil, nil
	}
	file, err := guard.ApproveWrite(st.Kube.Merged.Path, guard.KubeconfigFormat, c.WriteScope())
	if err != nil {
		var r *guard.Refusal
		if errors.As(err, &r) {
			r.Reason += fmt.Sprintf("; labsbx will not edit it: make it a kubeconfig again or move it aside, then run the command again (the sandbox's entries are %s, %s and %s)",
				st.Kube.Merged.Context, st.Kube.Merged.Cluster, st.Kube.Merged.User)
		}
		return nil, err
	}
	removed, err := cluster.Unmerge(file, st.Kube.Merged)
	if err != nil {
		return removed, fmt.Errorf("remove the sandbox's entries from %s: %w", st.Kube.Merged.Path, err)
	}
	st.Kube.Merged = nil
	return removed, c.Store.Save(st, c.now())
}
