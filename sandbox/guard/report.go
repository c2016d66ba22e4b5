package guard

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
			r := asRefusal(err)
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
