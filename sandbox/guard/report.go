package guard

import "errors"

// CheckResult is one line of a guard report.
type CheckResult struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is the guard's decision with every check that ran, in order. The
// first failed check is the reason; checks after it do not run.
type Report struct {
	Approved bool          `json:"approved"`
	Reason   string        `json:"reason,omitempty"`
	Checks   []CheckResult `json:"checks"`
}

// Err returns nil when the report approves, else the refusal.
func (r Report) Err() error {
	if r.Approved {
		return nil
	}
	reason := r.Reason
	if reason == "" {
		reason = "no check approved the target"
	}
	return &Refusal{Reason: reason}
}

// step is one named check. run returns a detail for the report, or a refusal.
type step[T any] struct {
	name string
	run  func(T) (detail string, err error)
}

// runSteps runs steps in order against s, appending each result to rep. It
// stops at the first refusal and returns it.
func runSteps[T any](rep *Report, target string, steps []step[T], s T) error {
	for _, st := range steps {
		detail, err := st.run(s)
		if err != nil {
			r := named(asRefusal(err), st.name)
			rep.Checks = append(rep.Checks, CheckResult{Name: st.name, Target: target, OK: false, Detail: r.Reason})
			rep.Approved = false
			if rep.Reason == "" {
				rep.Reason = r.Reason
			}
			return r
		}
		rep.Checks = append(rep.Checks, CheckResult{Name: st.name, Target: target, OK: true, Detail: detail})
	}
	return nil
}

// runChecks runs steps in order against s and returns the first failure as the step
// gave it: a refusal, which then names its step (Refusal.Check), or an error that is
// not one (a container that is ours but down, a state dir kept), which stays what it
// is, so that its caller's exit status and waits do not change.
func runChecks[T any](steps []step[T], s T) error {
	for _, st := range steps {
		if _, err := st.run(s); err != nil {
			var r *Refusal
			if errors.As(err, &r) && r.Check == "" {
				r.Check = st.name
			}
			return err
		}
	}
	return nil
}

// named is r with the name of the step that refused, unless a nested check named it.
func named(r *Refusal, check string) *Refusal {
	if r.Check == "" {
		r.Check = check
	}
	return r
}
