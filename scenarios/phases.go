package scenarios

import (
	"context"
	"slices"
	"time"

	"github.com/arcodange/labsbx/scenarios/report"
)

// Phase names, in the order a scenario runs them.
const (
	PhaseSteady  = "steady-state"
	PhaseInject  = "inject"
	PhaseObserve = "observe"
	PhaseRecover = "recover"
	PhaseVerify  = "verify"
	// PhaseChange is what a change drill's report calls its inject phase: a change
	// (an upgrade, the lab's own edit) is made, not a fault injected.
	PhaseChange = "change"
)

// Marks of the inject phase, and what a change drill's report calls them.
const (
	markInjecting  = "injecting the fault"
	markFaultIn    = "fault in place"
	markChanging   = "making the change"
	markChangeMade = "change made"
)

// phases is what a drill is: its five phases in the order they run, with the rules of
// each. Drill.RunScenario runs this table and decides nothing of its own.
//
//   - Polled phases and their deadlines: the wait column (and manualWait, --manual).
//     The steady state runs once, within the drill's timeout.
//   - Time to detect runs from the fault in place to the symptom observed; time to
//     recover from the recover phase's turn (run or skipped) to the steady state
//     verified.
//   - The fault is in the sandbox state from just before inject until verify passed.
//   - The full profile checks the apps' side after the scenario's own steady state and
//     verify (apps), and turns VSO's Events into milestones after verify (appEvents).
var phases = []phase{{
	name:             PhaseSteady,
	step:             Scenario.Steady,
	wait:             onceWithinTimeout,
	apps:             (*scenarioRun).appsBeforeFault,
	failureSkipsRest: "the steady state did not hold before the fault",
}, {
	name:         PhaseInject,
	recordsFault: true,
	startMark:    markInjecting,
	step:         Scenario.Inject,
	wait:         once,
	passMark:     markFaultIn,
	startsOnPass: timeToDetect,
}, {
	name:        PhaseObserve,
	needs:       passed(PhaseInject),
	step:        Scenario.Observe,
	wait:        withinTimeout,
	passMark:    "symptom observed",
	stopsOnPass: timeToDetect,
}, {
	name:          PhaseRecover,
	needs:         faultRecorded,
	skipIf:        noRecover,
	skipWhy:       "--no-recover: the fault stays in place",
	startsOnBegin: timeToRecover,
	step:          Scenario.Recover,
	wait:          once,
	manual:        Scenario.Verify,
	manualWait:    withinTimeout,
}, {
	name:        PhaseVerify,
	needs:       faultRecorded,
	skipIf:      recoveryFailed,
	skipWhy:     "recovery failed",
	undoFirst:   true,
	step:        Scenario.Verify,
	apps:        (*scenarioRun).appsAfterRecovery,
	wait:        withinVerifyTimeout,
	appEvents:   true,
	passMark:    "steady state verified",
	stopsOnPass: timeToRecover,
	clearsFault: true,
}}

// phase is one row of the table.
type phase struct {
	name string

	// needs: unless it holds when the phase's turn comes, the phase is left out of
	// the report (nil: it always has its turn).
	needs func(*scenarioRun) bool
	// skipIf: when it holds, the phase is reported skipped, saying skipWhy.
	skipIf  func(*scenarioRun) bool
	skipWhy string
	// failureSkipsRest: when the phase fails, every later phase is reported skipped
	// with this reason, and the scenario ends.
	failureSkipsRest string

	// recordsFault: the fault goes into the sandbox state before the step, so that
	// `labsbx drill recover` or the next `up` can undo an interrupted drill.
	recordsFault bool
	// undoFirst: when the symptom never showed (observe failed), the scenario's Undo
	// runs before the phase, so that it verifies a sandbox put back.
	undoFirst bool
	// startMark is a milestone marked as the step starts; passMark once it passed.
	startMark, passMark string

	// step is the scenario's part of the phase.
	step func(Scenario, context.Context, *Env) error
	// apps checks the apps' side (full profile only) after the step passed, as part
	// of the same try.
	apps func(*scenarioRun, context.Context) error
	// wait says whether the step runs once or is polled, and within what deadline.
	wait waitMode
	// manual replaces step with --manual: labsbx prints the runbook step, then
	// polls manual within manualWait while a person follows it.
	manual     func(Scenario, context.Context, *Env) error
	manualWait waitMode

	// appEvents: once the phase ran, what VSO reported since the fault becomes
	// milestones (full profile); a failure to read it fails the scenario at this
	// phase, as the report would miss the app side.
	appEvents bool
	// clearsFault: once the phase passed, the fault leaves the sandbox state.
	clearsFault bool

	// The report's timers: started when the phase's turn comes or when it passed,
	// stopped when it passed.
	startsOnBegin, startsOnPass, stopsOnPass timer
}

// waitMode is how a phase's step runs.
type waitMode int

const (
	// once: the step runs once.
	once waitMode = iota
	// onceWithinTimeout: the step runs once, cut at the drill's timeout (--timeout,
	// spec.drills.timeout): a probe that hangs does not hold the drill.
	onceWithinTimeout
	// withinTimeout: polled every PollInterval within the drill's timeout (--timeout,
	// spec.drills.timeout).
	withinTimeout
	// withinVerifyTimeout: polled within Drill.verifyTimeout: short with --no-recover,
	// on the full profile as long as VSO's renewals need.
	withinVerifyTimeout
)

// timer is one of the report's durations.
type timer int

const (
	noTimer timer = iota
	timeToDetect
	timeToRecover
)

// scenarioRun is one scenario's run through the table: what its phases share.
type scenarioRun struct {
	d   *Drill
	e   *Env
	s   Scenario
	res *report.ScenarioResult
	// recorded: the fault is in the sandbox state since recordedAt (VSO's Events are
	// read from then on).
	recorded   bool
	recordedAt time.Time
	since      [3]time.Time // per timer, when it started
	// failed lists the phases that failed, in order; the report names the first.
	failed []string
}

// passed: the named phase ran and passed.
func passed(name string) func(*scenarioRun) bool {
	return func(r *scenarioRun) bool {
		for _, p := range r.res.Phases {
			if p.Name == name {
				return p.Result == report.ResultPassed
			}
		}
		return false
	}
}

// faultRecorded: the fault went into the sandbox state; what comes after it is about
// undoing it.
func faultRecorded(r *scenarioRun) bool { return r.recorded }

func noRecover(r *scenarioRun) bool { return r.d.opts.NoRecover }

// recoveryFailed: a phase failed, and not only observe (whose missing symptom the
// scenario's Undo takes care of).
func recoveryFailed(r *scenarioRun) bool {
	return slices.ContainsFunc(r.failed, func(p string) bool { return p != PhaseObserve })
}

// appsBeforeFault requires every app healthy, and keeps their states for verify.
func (r *scenarioRun) appsBeforeFault(ctx context.Context) error {
	var err error
	r.e.appsBefore, err = r.e.AppStates(ctx)
	return err
}

// appsAfterRecovery requires the apps back as the scenario says (AppExpecting).
func (r *scenarioRun) appsAfterRecovery(ctx context.Context) error {
	return r.e.appsRecovered(ctx, r.e.appsBefore, outcomeOf(r.s))
}

func (r *scenarioRun) start(t timer) {
	if t != noTimer {
		r.since[t] = r.d.now()
	}
}

func (r *scenarioRun) stop(t timer) {
	switch t {
	case timeToDetect:
		r.res.TimeToDetectMs = ms(r.d.now().Sub(r.since[t]))
	case timeToRecover:
		r.res.TimeToRecoverMs = ms(r.d.now().Sub(r.since[t]))
	}
}

// Changer is a change drill (vault-upgrade, a drill file with a change phase): its
// report names the inject phase "change" and its marks as a change's.
type Changer interface{ IsChange() bool }

// nameAsChange renames, in a change drill's result, the inject phase and its marks.
func nameAsChange(res *report.ScenarioResult) {
	if res.FailedPhase == PhaseInject {
		res.FailedPhase = PhaseChange
	}
	for i := range res.Phases {
		if res.Phases[i].Name == PhaseInject {
			res.Phases[i].Name = PhaseChange
		}
	}
	for i := range res.Probes {
		if res.Probes[i].Phase == PhaseInject {
			res.Probes[i].Phase = PhaseChange
		}
	}
	for i := range res.Output {
		if res.Output[i].Phase == PhaseInject {
			res.Output[i].Phase = PhaseChange
		}
	}
	for i, m := range res.Milestones {
		switch m.Name {
		case markInjecting:
			res.Milestones[i].Name = markChanging
		case markFaultIn:
			res.Milestones[i].Name = markChangeMade
		}
	}
}

// Committer is a change whose verify may run several times (a polled phase: the full
// profile's apps may still be coming back): Commit makes the change stand once the
// whole verify phase passed, and only then — say, removing the evidence it checks.
type Committer interface {
	Commit(ctx context.Context, e *Env)
}
