package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// Merged records what `--merge-kubeconfig` added to a user's kubeconfig, so that
// Unmerge (at down) removes exactly that and nothing else.
type Merged struct {
	Path          string `json:"path"`
	Context       string `json:"context"`
	Cluster       string `json:"cluster"`
	User          string `json:"user"`
	Server        string `json:"server"`
	CAFingerprint string `json:"caFingerprint"`
	// Switched says current-context was set to Context; PreviousContext is what it
	// was, restored by Unmerge if it still exists.
	Switched        bool   `json:"switched,omitempty"`
	PreviousContext string `json:"previousContext,omitempty"`
}

// ErrForeignEntry is returned when the target kubeconfig holds an entry of the same
// name that this sandbox did not write.
var ErrForeignEntry = errors.New("kubeconfig entry not written by this sandbox")

// Merge adds the sandbox's context, cluster and user (rec names them in kc) to the
// kubeconfig at path, creating it if needed, and makes it the current context when
// switchContext. Other entries are kept as they are. An entry of the same name is
// replaced only if it is the one this sandbox wrote: identical, or the cluster prev
// recorded (a recreated cluster has a new CA); anything else is refused.
func Merge(path string, kc *clientcmdapi.Config, rec guard.KubeRecord, switchContext bool, prev *Merged) (*Merged, error) {
	// A kubeconfig that is a symlink (into a dotfiles repository, say) is written
	// through the link, as kubectl does, not replaced by a file.
	path, err := resolveLink(path)
	if err != nil {
		return nil, err
	}
	m := &Merged{Path: path, Context: rec.Context, Cluster: rec.Cluster, User: rec.User, Server: rec.Server, CAFingerprint: rec.CAFingerprint}
	err = withKubeconfigLock(path, func() error {
		target, mode, err := loadTarget(path)
		if err != nil {
			return err
		}
		ctx, cl, user := kc.Contexts[rec.Context], kc.Clusters[rec.Cluster], kc.AuthInfos[rec.User]
		if ctx == nil || cl == nil || user == nil {
			return fmt.Errorf("the sandbox kubeconfig lacks context %q, cluster %q or user %q", rec.Context, rec.Cluster, rec.User)
		}
		mine := func(kind, name string, have, want any, ours bool) error {
			if have == nil || ours || sameEntry(have, want) {
				return nil
			}
			return fmt.Errorf("%w: %s already has %s %q, which this sandbox did not write; remove it (kubectl config delete-%s %s) or merge into another file with --kubeconfig",
				ErrForeignEntry, path, kind, name, kind, name)
		}
		prevCluster := prev != nil && prev.Cluster == rec.Cluster && entryMatches(target.Clusters[rec.Cluster], prev.Server, prev.CAFingerprint)
		hc, hasC := target.Clusters[rec.Cluster]
		hu, hasU := target.AuthInfos[rec.User]
		hx, hasX := target.Contexts[rec.Context]
		var errs []error
		if hasC {
			errs = append(errs, mine("cluster", rec.Cluster, hc, cl, prevCluster))
		}
		if hasU {
			errs = append(errs, mine("user", rec.User, hu, user, prevCluster && prev.User == rec.User))
		}
		if hasX {
			errs = append(errs, mine("context", rec.Context, hx, ctx, hx.Cluster == rec.Cluster && hx.AuthInfo == rec.User && (prevCluster || !hasC)))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		target.Clusters[rec.Cluster] = cl.DeepCopy()
		target.AuthInfos[rec.User] = user.DeepCopy()
		target.Contexts[rec.Context] = ctx.DeepCopy()
		if switchContext {
			m.Switched = true
			m.PreviousContext = target.CurrentContext
			if prev != nil && prev.Switched && target.CurrentContext == rec.Context {
				m.PreviousContext = prev.PreviousContext // a re-merge keeps the original
			}
			target.CurrentContext = rec.Context
		} else if prev != nil && prev.Switched && target.CurrentContext == rec.Context {
			m.Switched, m.PreviousContext = true, prev.PreviousContext
		}
		return writeTarget(path, target, mode)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Unmerge removes what Merge added, if it is still what Merge wrote: a cluster entry
// that now points elsewhere, and the context and user tied to it, are left alone.
// If the current context is the sandbox's, it goes back to the previous one (when that
// still exists) or is cleared. removed lists what was removed.
func Unmerge(m *Merged) (removed []string, err error) {
	path, err := resolveLink(m.Path)
	if err != nil {
		return nil, err
	}
	err = withKubeconfigLock(path, func() error {
		target, mode, err := loadTarget(path)
		if err != nil || target == nil {
			return err
		}
		if c, ok := target.Clusters[m.Cluster]; ok {
			if !entryMatches(c, m.Server, m.CAFingerprint) {
				return nil // replaced by someone else: not ours any more
			}
			delete(target.Clusters, m.Cluster)
			removed = append(removed, "cluster "+m.Cluster)
		}
		if x, ok := target.Contexts[m.Context]; ok && x.Cluster == m.Cluster && x.AuthInfo == m.User {
			delete(target.Contexts, m.Context)
			removed = append(removed, "context "+m.Context)
		}
		if _, ok := target.AuthInfos[m.User]; ok && !userInUse(target, m.User) {
			delete(target.AuthInfos, m.User)
			removed = append(removed, "user "+m.User)
		}
		if target.CurrentContext == m.Context {
			target.CurrentContext = ""
			if _, ok := target.Contexts[m.PreviousContext]; ok && m.Switched {
				target.CurrentContext = m.PreviousContext
			}
			removed = append(removed, "current-context "+m.Context)
		}
		if len(removed) == 0 {
			return nil
		}
		return writeTarget(path, target, mode)
	})
	return removed, err
}

// resolveLink follows a symlinked kubeconfig to its file (a missing file is fine).
func resolveLink(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	switch {
	case err == nil:
		return real, nil
	case errors.Is(err, os.ErrNotExist):
		// No file yet, or a dangling link: write where the link points, if it is one.
		if target, lerr := os.Readlink(path); lerr == nil {
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(path), target)
			}
			return target, nil
		}
		return path, nil
	default:
		return "", err
	}
}

// sameEntry compares two kubeconfig entries as written: LocationOfOrigin, which
// clientcmd stamps with the file an entry was read from, does not count.
func sameEntry(a, b any) bool {
	return equality.Semantic.DeepEqual(withoutOrigin(a), withoutOrigin(b))
}

func withoutOrigin(v any) any {
	switch e := v.(type) {
	case *clientcmdapi.Cluster:
		c := e.DeepCopy()
		c.LocationOfOrigin = ""
		return c
	case *clientcmdapi.AuthInfo:
		c := e.DeepCopy()
		c.LocationOfOrigin = ""
		return c
	case *clientcmdapi.Context:
		c := e.DeepCopy()
		c.LocationOfOrigin = ""
		return c
	}
	return v
}

func userInUse(c *clientcmdapi.Config, user string) bool {
	for _, x := range c.Contexts {
		if x.AuthInfo == user {
			return true
		}
	}
	return false
}

// entryMatches reports whether a cluster entry has this server and CA.
func entryMatches(c *clientcmdapi.Cluster, server, caFingerprint string) bool {
	if c == nil || c.Server != server {
		return false
	}
	fp, err := guard.CAFingerprint(c.CertificateAuthorityData)
	return err == nil && fp == caFingerprint
}

// loadTarget reads the kubeconfig at path; a missing file is an empty config (mode
// 0600).
func loadTarget(path string) (*clientcmdapi.Config, os.FileMode, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return clientcmdapi.NewConfig(), fsutil.SecretMode, nil
	}
	if err != nil {
		return nil, 0, err
	}
	c, err := clientcmd.LoadFromFile(path)
	if err != nil {
		// Not %w: client-go's error can quote the file's tokens and keys.
		return nil, 0, fmt.Errorf("read %s: %s; fix it, or merge into another file with --kubeconfig", path, guard.KubeconfigErrReason(err))
	}
	return c, fi.Mode().Perm(), nil
}

func writeTarget(path string, c *clientcmdapi.Config, mode os.FileMode) error {
	b, err := clientcmd.Write(*c)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, b, mode)
}

// lockWait is how long Merge and Unmerge wait for another writer's lock.
var lockWait = 5 * time.Second

// withKubeconfigLock holds <path>.lock as kubectl does while it edits a kubeconfig,
// so that labsbx and kubectl never interleave their writes.
func withKubeconfigLock(path string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), fsutil.DirMode); err != nil {
		return err
	}
	lock := path + ".lock"
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_ = f.Close()
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is locked (%s exists); if no kubectl or labsbx is running, remove the lock file", path, lock)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer os.Remove(lock)
	return fn()
}
