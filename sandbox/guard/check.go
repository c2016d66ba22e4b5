package guard

import (
	"context"
	"fmt"
	"time"
)

// Target is what `labsbx guard check` is asked to judge. Empty fields are
// not checked; at least one must be set.
type Target struct {
	Kubeconfig []string `json:"kubeconfig,omitempty"` // files, in kubectl's precedence order
	Context    string   `json:"context,omitempty"`    // "" means the files' current-context
	VaultAddr  string   `json:"vaultAddr,omitempty"`
	KeyPath    string   `json:"keyPath,omitempty"`
}

// CheckOptions tune Check.
type CheckOptions struct {
	// Offline skips the online identity checks (marker, cluster_id): the
	// decision then rests on the recorded context, server, CA and address.
	Offline bool
	// Timeout bounds each online check; 0 means 5s.
	Timeout time.Duration
}

// Check runs every check relevant to t and reports them all: exit 0 when
// Approved, 3 when not. Offline checks always run first; a target is dialled
// only when every offline check on it passed (for Vault: when the address is
// the recorded one). An online target that cannot be reached is reported but
// not refused: its offline identity stands.
func Check(ctx context.Context, rec Record, t Target, opts CheckOptions) Report {
	rep := Report{Approved: true, Checks: []CheckResult{}}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	refuse := func(r Report) {
		rep.Checks = append(rep.Checks, r.Checks...)
		if !r.Approved && rep.Approved {
			rep.Approved, rep.Reason = false, r.Reason
		}
	}
	if len(t.Kubeconfig) == 0 && t.Context == "" && t.VaultAddr == "" && t.KeyPath == "" {
		const reason = "nothing to check: give a kubeconfig/context, a Vault address or a key path"
		return Report{Approved: false, Reason: reason, Checks: []CheckResult{{Name: "target", OK: false, Detail: reason}}}
	}
	if len(t.Kubeconfig) > 0 || t.Context != "" {
		refuse(checkKube(ctx, rec, t, opts))
	}
	if t.VaultAddr != "" {
		_, r, _ := approveVaultCheck(ctx, rec, t.VaultAddr, opts)
		refuse(r)
	}
	if t.KeyPath != "" {
		_, r, _ := approveKeyPath(rec, t.KeyPath, nil)
		refuse(r)
	}
	return rep
}

func checkKube(ctx context.Context, rec Record, t Target, opts CheckOptions) Report {
	context := t.Context
	if context == "" {
		context = currentContext(t.Kubeconfig)
	}
	a, rep, err := ApproveKube(rec, t.Kubeconfig, context)
	if err != nil || opts.Offline {
		return rep
	}
	o := &kubeOnline{ctx: ctx, a: a, rec: rec, timeout: opts.Timeout}
	_ = runSteps(&rep, fmt.Sprintf("kube context %+q", context), kubeOnlineChecks, o)
	return rep
}

// currentContext is the current-context kubectl would use: the first file
// that sets one wins. Unreadable files are left for ApproveKube to refuse.
func currentContext(paths []string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		f, err := loadKubeFile(p)
		if err != nil {
			return ""
		}
		if f.currentContext != "" {
			return f.currentContext
		}
	}
	return ""
}

// kubeOnline is the online part of a kube check.
type kubeOnline struct {
	ctx     context.Context
	a       KubeApproval
	rec     Record
	timeout time.Duration
}

func (o *kubeOnline) marker() (string, error) {
	ctx, cancel := context.WithTimeout(o.ctx, o.timeout)
	defer cancel()
	k, err := o.a.Connect(ctx, o.rec)
	switch {
	case err == nil && k.Verified():
		return "uuid " + o.rec.UUID, nil
	case err == nil:
		return "not written yet (up in progress): identity verified offline only", nil
	case isUnreachable(err):
		return fmt.Sprintf("cluster unreachable (%v): identity verified offline only", err), nil
	}
	return "", asRefusal(err)
}

func approveVaultCheck(ctx context.Context, rec Record, addr string, opts CheckOptions) (VaultApproval, Report, error) {
	if opts.Offline {
		r := &vaultRun{ctx: ctx, rec: rec, addr: addr, mode: vaultRecorded, check: true}
		rep := Report{Approved: true, Checks: []CheckResult{}}
		err := runSteps(&rep, fmt.Sprintf("vault %q", addr), vaultChecks, r)
		return VaultApproval{}, rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	return approveVault(&vaultRun{ctx: ctx, rec: rec, addr: addr, mode: vaultRecorded, check: true})
}
