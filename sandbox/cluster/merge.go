package cluster

import (
	"errors"
	"fmt"
	"os"
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
// kubeconfig the guard approved as file, creating it if needed, and makes it the
// current context when switchContext. Other entries are kept as they are. An entry of
// the same name is replaced only if it is the one this sandbox wrote: identical, or the
// cluster prev recorded (a recreated cluster has a new CA); anything else is refused.
// A kubeconfig that is a symlink (into a dotfiles repository, say) is written through
// the link, as kubectl does: the guard judged where it leads.
func Merge(file guard.FileApproval, kc *clientcmdapi.Config, rec guard.KubeRecord, switchContext bool, prev *Merged) (*Merged, error) {
	path := file.Path()
	m := &Merged{Path: path, Context: rec.Context, Cluster: rec.Cluster, User: rec.User, Server: rec.Server, CAFingerprint: rec.CAFingerprint}
	err := withKubeconfigLock(file, func() error {
		target, mode, err := loadTarget(file)
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
		return writeTarget(file, target, mode)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Unmerge removes what Merge added (m) from the kubeconfig the guard approved as
// file, if it is still what Merge wrote: a cluster entry that now points elsewhere,
// and the context and user tied to it, are left alone. If the current context is the
// sandbox's, it goes back to the previous one (when that still exists) or is cleared.
// removed lists what was removed.
func Unmerge(file guard.FileApproval, m *Merged) (removed []string, err error) {
	err = withKubeconfigLock(file, func() error {
		target, mode, err := loadTarget(file)
		if err != nil {
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
		return writeTarget(file, target, mode)
	})
	return removed, err
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

// loadTarget reads the approved kubeconfig; a missing file is an empty config (mode
// 0600).
func loadTarget(file guard.FileApproval) (*clientcmdapi.Config, os.FileMode, error) {
	data, err := file.Read()
	if err != nil {
		return nil, 0, err
	}
	mode, err := file.Mode(fsutil.SecretMode)
	if err != nil {
		return nil, 0, err
	}
	if data == nil {
		return clientcmdapi.NewConfig(), mode, nil
	}
	c, err := clientcmd.Load(data)
	if err != nil {
		// Not %w: client-go's error can quote the file's tokens and keys.
		return nil, 0, fmt.Errorf("read %s: %s; fix it, or merge into another file with --kubeconfig", file.Path(), guard.KubeconfigErrReason(err))
	}
	return c, mode, nil
}

func writeTarget(file guard.FileApproval, c *clientcmdapi.Config, mode os.FileMode) error {
	b, err := clientcmd.Write(*c)
	if err != nil {
		return err
	}
	return file.WriteAtomic(b, mode)
}

// lockWait is how long Merge and Unmerge wait for another writer's lock.
var lockWait = 5 * time.Second

// withKubeconfigLock holds <file>.lock as kubectl does while it edits a kubeconfig,
// so that labsbx and kubectl never interleave their writes.
func withKubeconfigLock(file guard.FileApproval, fn func() error) error {
	unlock, err := file.Lock(lockWait)
	if errors.Is(err, guard.ErrLockBusy) {
		return fmt.Errorf("%s is locked: %w", file.Path(), err)
	}
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}
