package scenarios

import (
	"time"

	"github.com/arcodange/labsbx/sandbox/vso"
)

// Every timeout of a drill is decided here: the phase timeout (--timeout, else
// spec.drills.timeout, else DefaultTimeout), each polled phase's deadline and the
// steady state's, verify's (short with --no-recover, VSO's schedule on the full
// profile) and one try's. A drill file's commands get the phase timeout too, unless
// the file gives one (Env.Timeout).

// DefaultTimeout bounds a polled phase when neither --timeout nor the config says.
const DefaultTimeout = 2 * time.Minute

// phaseTimeout is what bounds each polled phase of this run.
func (o Options) phaseTimeout() time.Duration {
	switch {
	case o.Timeout > 0:
		return o.Timeout
	case o.ConfigTimeout > 0:
		return o.ConfigTimeout
	}
	return DefaultTimeout
}

// deadline is how long a polled step may take.
func (r *scenarioRun) deadline(w waitMode) time.Duration {
	switch w {
	case withinTimeout, onceWithinTimeout:
		return r.d.opts.Timeout
	case withinVerifyTimeout:
		return r.d.verifyTimeout(r.e, r.d.now())
	}
	return 0
}

// tryTimeout is how long one try of a polled step may take: a few seconds for
// labsbx's own checks; a drill file's command probes (an Ansible ping, a script) get
// longer.
func tryTimeout(s Scenario) time.Duration {
	if st, ok := s.(SlowTrier); ok && st.SlowTries() {
		return commandTryTimeout
	}
	return defaultTryTimeout
}

const (
	defaultTryTimeout = 5 * time.Second
	commandTryTimeout = time.Minute
	// undoTryTimeout bounds one try of a scenario's Undo in drill recover: a rollback
	// restores a backup and may roll a pod, and a try cut short would leave it half
	// done for the next try to judge.
	undoTryTimeout = 3 * time.Minute
)

// verifyTimeout: with --no-recover nothing will come back, so do not wait long for it.
// On the full profile the apps come back on VSO's schedule, not the drill's: verify
// waits at least appRecoveryBudget.
func (d *Drill) verifyTimeout(e *Env, now time.Time) time.Duration {
	if d.opts.NoRecover {
		return min(d.opts.Timeout, 2*time.Second)
	}
	if e.Apps != nil {
		return max(d.opts.Timeout, untilRenewals(e.appsBefore, now)+d.vsoSlack)
	}
	return d.opts.Timeout
}

// appRolloutAllowance is what a demo app's rollout may take once VSO restarted it: a
// new pod scheduled and started, and its readiness probe (every 5 s) passing.
const appRolloutAllowance = 2 * time.Minute

// untilRenewals is how long until VSO has tried to renew every app's lease: it
// notices a revoked lease or a broken database only then (by about 80 % of the
// lease's duration after its last renewal; measured 42–46 s into a 60 s lease). On top
// of it, verify allows vsoSlack: a failed sync is retried after a back-off of up to a
// minute, and the rollout VSO triggers must then finish.
func untilRenewals(before map[string]vso.AppState, now time.Time) time.Duration {
	var d time.Duration
	for _, s := range before {
		if _, to, ok := vso.RenewalWindow(s); ok {
			d = max(d, to.Sub(now))
		}
	}
	return d
}
