package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios/report"
)

// PollInterval is how often the engine polls a symptom or the steady state: detection
// times are accurate to about this.
const PollInterval = 50 * time.Millisecond

// ErrVerifyFailed marks a drill run in which at least one scenario did not verify;
// the CLI maps it to exit status 4.
var ErrVerifyFailed = errors.New("drill verification failed")

// VerifyFailure is returned by Run when a scenario failed.
type VerifyFailure struct{ Failed []string }

func (f *VerifyFailure) Error() string {
	return fmt.Sprintf("%d scenario(s) failed: %v", len(f.Failed), f.Failed)
}
func (f *VerifyFailure) Is(target error) bool { return target == ErrVerifyFailed }

// DrillFailed lets the CLI recognise it without importing this package's sentinel.
func (f *VerifyFailure) DrillFailed() bool { return true }

// Options are the knobs of one `labsbx drill run`.
type Options struct {
	Name      string
	Scenarios []string
	// All runs every scenario that applies to the sandbox (see the catalogue) after the
	// ones named in Scenarios.
	All bool
	// Manual makes the recover phase wait for a person to follow the runbook.
	Manual bool
	// NoRecover leaves the fault in place; verify then fails.
	NoRecover bool
	// Timeout bounds each polled phase (observe, manual recover, verify): --timeout,
	// else ConfigTimeout (spec.drills.timeout), else DefaultTimeout (timeouts.go).
	Timeout       time.Duration
	ConfigTimeout time.Duration
	// Prompt receives the runbook step in manual mode (stderr in the CLI).
	Prompt io.Writer
	// Version is labsbx's version, for the report.
	Version string
	// Files are the scenarios of drill files (scenarios/filedrill), to run after the
	// named ones (drill run -f).
	Files []Scenario
	// To is what a change drill named changes to (drill run --to; vault-upgrade: the
	// Vault image).
	To string
	// Repeat runs the whole list this many times (a game day); the report then
	// summarises each drill's figures over the rounds. 0 or 1: once.
	Repeat int
	// Shuffle runs each round in an order drawn from Seed.
	Shuffle bool
	Seed    int64
}

// list is what the options name, before the sandbox is known: the scenarios of the
// catalogue, then the drill files; a file may not take a built-in drill's name.
func (o Options) list(cat *Catalogue) ([]Scenario, error) {
	list, err := cat.Lookup(o.Scenarios)
	if err != nil {
		return nil, err
	}
	if err := ApplyTarget(list, o.To); err != nil {
		return nil, err
	}
	for _, f := range o.Files {
		name, src := f.Name(), f.Name()
		if s, ok := f.(Sourced); ok {
			src = s.Source()
		}
		if cat.taken(name) {
			return nil, fmt.Errorf("%s: drill name %q is a built-in drill's; rename it", src, name)
		}
		if slices.ContainsFunc(list, func(s Scenario) bool { return s.Name() == name }) {
			return nil, fmt.Errorf("%s: drill %q is given twice", src, name)
		}
		list = append(list, f)
	}
	return list, nil
}

// Drill runs scenarios against a sandbox. It holds the sandbox lock for the whole run;
// `labsbx vault unseal`, which a person runs during --manual, does not need it.
type Drill struct {
	cfg  *sandbox.Configuration
	cat  *Catalogue
	opts Options
	// refused is the first guard refusal a phase met: the run stops there and exits
	// with it (status 3), since nothing more may be done to that sandbox.
	refused error
	// vsoSlack is what verify allows VSO beyond its renewal window on the full
	// profile: its longest back-off and an app's rollout.
	vsoSlack time.Duration
}

// NewDrill prepares a drill run of the scenarios of cat that opts name.
func NewDrill(cfg *sandbox.Configuration, cat *Catalogue, opts Options) *Drill {
	return &Drill{cfg: cfg, cat: cat, opts: opts, vsoSlack: vso.SyncBackoffMax + appRolloutAllowance}
}

func (d *Drill) now() time.Time { return d.cfg.Clock() }

// Permanent makes a polled step fail at once with err, instead of trying again until
// its deadline.
func Permanent(err error) error { return permanent{err} }

// permanent stops poll at once.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }

// Unwrap lets a guard refusal inside still be recognised (exit status 3).
func (p permanent) Unwrap() error { return p.err }

// Run executes the scenarios in order and returns the report. The error is a
// *VerifyFailure when a scenario failed, or another error when the drill could not run.
func (d *Drill) Run(ctx context.Context) (*report.Report, error) {
	list, err := d.opts.list(d.cat)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 && !d.opts.All {
		return nil, errors.New("no scenario given; name one or use --all (see `labsbx drill list`)")
	}
	d.opts.Timeout = d.opts.phaseTimeout()
	lock, err := d.cfg.Store.Lock(d.opts.Name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, err := d.cfg.Store.Load(d.opts.Name)
	if err != nil {
		return nil, err
	}
	if err := st.Preflight(ctx); err != nil {
		return nil, err
	}
	if len(st.Faults) > 0 {
		return nil, fmt.Errorf("sandbox %q still has %d fault(s) from an interrupted drill; run `labsbx drill recover --name %s` first", st.Name, len(st.Faults), st.Name)
	}
	if d.opts.All {
		for _, s := range d.cat.ApplicableTo(st) {
			if !slices.ContainsFunc(list, func(x Scenario) bool { return x.Name() == s.Name() }) {
				list = append(list, s)
			}
		}
	}
	env, err := NewEnv(ctx, d.cfg, st)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	env.timeout = d.opts.Timeout
	rep := &report.Report{SchemaVersion: report.SchemaVersion, Sandbox: st.Name, Profile: st.Profile, LabsbxVersion: d.opts.Version,
		Manual: d.opts.Manual, NoRecover: d.opts.NoRecover, StartedAt: d.now()}
	if vs, err := env.Vault.Status(ctx); err == nil {
		rep.VaultVersion = vs.Version
	}
	failed := d.runRounds(ctx, env, list, rep)
	if rounds := max(d.opts.Repeat, 1); rounds > 1 {
		rep.Repeat, rep.Shuffle, rep.Seed = rounds, d.opts.Shuffle, d.opts.Seed
		rep.Summary = report.Summarise(rep.Scenarios)
	}
	rep.FinishedAt = d.now()
	rep.DurationMs = ms(rep.FinishedAt.Sub(rep.StartedAt))
	rep.Result = report.ResultPassed
	if len(failed) > 0 {
		rep.Result = report.ResultFailed
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if d.refused != nil {
		return rep, d.refused
	}
	if len(failed) > 0 {
		return rep, &VerifyFailure{Failed: failed}
	}
	return rep, nil
}

// runRounds runs the list, every round of it, into rep, and returns the names of the
// drills that failed. Once a drill leaves its fault in the sandbox (its recovery or
// rollback failed, or --no-recover), the drills after it are reported skipped rather
// than run on a broken sandbox.
func (d *Drill) runRounds(ctx context.Context, env *Env, list []Scenario, rep *report.Report) (failed []string) {
	rounds := max(d.opts.Repeat, 1)
	rng := rand.New(rand.NewPCG(uint64(d.opts.Seed), 0x6c616273627821))
	faultedBy := ""
	for round := 1; round <= rounds; round++ {
		order := d.cat.fresh(list, round)
		if d.opts.Shuffle {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, s := range order {
			if ctx.Err() != nil {
				return failed
			}
			var res report.ScenarioResult
			if faultedBy != "" {
				res = d.skipScenario(s, faultedBy)
			} else {
				res = d.RunScenario(ctx, env, s)
				if faultLeft(env.State, s) {
					faultedBy = s.Name()
				}
			}
			if rounds > 1 {
				res.Round = round
			}
			rep.Scenarios = append(rep.Scenarios, res)
			if res.Result == report.ResultFailed && !slices.Contains(failed, s.Name()) {
				failed = append(failed, s.Name())
			}
			if ctx.Err() != nil || d.refused != nil {
				return failed
			}
		}
	}
	return failed
}

// faultLeft: the state still records s's fault once s ended.
func faultLeft(st *state.State, s Scenario) bool {
	return slices.ContainsFunc(st.Faults, func(f state.Fault) bool { return f.Scenario == s.Name() })
}

// skipScenario is the result of a drill not run because an earlier one left its fault
// in the sandbox: every phase skipped, saying so.
func (d *Drill) skipScenario(s Scenario, faultedBy string) report.ScenarioResult {
	now := d.now()
	why := fmt.Sprintf("skipped: sandbox left faulted by %s; run labsbx drill recover", faultedBy)
	res := report.ScenarioResult{Name: s.Name(), Description: s.Description(), StartedAt: now, FinishedAt: now, Result: report.ResultSkipped, Error: why, Milestones: []report.MilestoneOffset{}}
	for _, p := range phases {
		res.Phases = append(res.Phases, report.PhaseResult{Name: p.name, StartedAt: now, Result: report.ResultSkipped, Error: why})
	}
	return res
}

// RunScenario runs one scenario on an open Env through the phase table (phases.go)
// and times it; Run calls it for each scenario of the list.
func (d *Drill) RunScenario(ctx context.Context, e *Env, s Scenario) (res report.ScenarioResult) {
	res = report.ScenarioResult{Name: s.Name(), Description: s.Description(), StartedAt: d.now(), Result: report.ResultPassed}
	_, _ = e.takeMilestones(), e.takeChecks()
	_, _ = e.takeFileResults()
	e.Mark("drill started")
	if src, ok := s.(Sourced); ok {
		res.Source = src.Source()
	}
	defer func() {
		res.FinishedAt = d.now()
		res.TotalMs = ms(res.FinishedAt.Sub(res.StartedAt))
		res.Milestones = milestoneOffsets(e.takeMilestones(), res.StartedAt)
		res.Checks = e.takeChecks()
		res.Probes, res.Output = e.takeFileResults()
		res.Error = e.Redact(res.Error)
		for i := range res.Phases {
			res.Phases[i].Error = e.Redact(res.Phases[i].Error)
		}
		if cr, ok := s.(ChangeReporter); ok {
			res.Change = cr.ChangeResult()
		}
		if c, ok := s.(Changer); ok && c.IsChange() {
			nameAsChange(&res)
		}
		if c, ok := s.(Cleaner); ok {
			c.Cleanup()
		}
	}()
	r := &scenarioRun{d: d, e: e, s: s, res: &res}
	for i, p := range phases {
		if p.needs != nil && !p.needs(r) {
			continue
		}
		r.start(p.startsOnBegin)
		if p.skipIf != nil && p.skipIf(r) {
			r.skip(p.name, p.skipWhy)
			continue
		}
		if !r.run(ctx, p) && p.failureSkipsRest != "" {
			for _, later := range phases[i+1:] {
				r.skip(later.name, p.failureSkipsRest)
			}
			break
		}
	}
	if _, rollsBack := s.(Recordable); rollsBack && r.failedIn(PhaseRecover) && r.recorded && ctx.Err() == nil {
		r.rollback(ctx)
	}
	return res
}

// rollback undoes a drill file's fault once its recovery failed, as the file's
// rollback says, and clears the fault; when that fails too, the fault stays recorded
// for `labsbx drill recover`.
func (r *scenarioRun) rollback(ctx context.Context) {
	msg, err := r.s.Undo(ctx, r.e)
	if err != nil {
		r.res.Error += "; rollback failed (run `labsbx drill recover`): " + err.Error()
		return
	}
	r.e.Mark("rolled back: " + msg)
	if err := r.d.clearFault(r.e.State, r.s); err != nil {
		r.res.Error += "; " + err.Error()
	}
}

// fail marks the scenario failed in phase. The report keeps the first failure, its
// phase and its error: what went wrong after it is in the phases' own rows.
func (r *scenarioRun) fail(phase, msg string) {
	r.res.Result = report.ResultFailed
	r.failed = append(r.failed, phase)
	if r.res.FailedPhase == "" {
		r.res.FailedPhase, r.res.Error = phase, msg
	}
}

// failedIn: phase failed in this run.
func (r *scenarioRun) failedIn(phase string) bool { return slices.Contains(r.failed, phase) }

func (r *scenarioRun) skip(phase, why string) {
	r.res.Phases = append(r.res.Phases, report.PhaseResult{Name: phase, StartedAt: r.d.now(), Result: report.ResultSkipped, Error: why})
}

// run runs phase p, reports it, and does what its row says follows; it says whether
// the phase passed.
func (r *scenarioRun) run(ctx context.Context, p phase) bool {
	d, e, res := r.d, r.e, r.res
	if p.undoFirst && r.failedIn(PhaseObserve) {
		if _, err := r.s.Undo(ctx, e); err != nil {
			res.Error += "; undo: " + err.Error()
		}
	}
	t0 := d.now()
	err := r.step(ctx, p)
	pr := report.PhaseResult{Name: p.name, StartedAt: t0, DurationMs: ms(d.now().Sub(t0)), Result: report.ResultPassed}
	if err != nil {
		pr.Result, pr.Error = report.ResultFailed, err.Error()
		r.fail(p.name, err.Error())
		if errors.Is(err, guard.ErrRefused) && d.refused == nil {
			d.refused = err
		}
	}
	res.Phases = append(res.Phases, pr)
	if p.appEvents && e.Apps != nil {
		if err := e.markAppEvents(ctx, r.recordedAt); err != nil {
			r.fail(p.name, "reading VSO's events: "+err.Error())
		}
	}
	if err != nil {
		return false
	}
	if p.passMark != "" {
		e.Mark(p.passMark)
	}
	r.stop(p.stopsOnPass)
	r.start(p.startsOnPass)
	if p.clearsFault {
		if c, ok := r.s.(Committer); ok {
			c.Commit(ctx, e)
		}
		if err := d.clearFault(e.State, r.s); err != nil {
			r.fail(p.name, err.Error())
		}
	}
	return true
}

// step does the work of phase p: once, or polled until it passes or its deadline.
func (r *scenarioRun) step(ctx context.Context, p phase) error {
	d, e, s := r.d, r.e, r.s
	if p.recordsFault {
		if err := d.recordFault(e.State, s); err != nil {
			return err
		}
		r.recorded, r.recordedAt = true, d.now()
	}
	if p.startMark != "" {
		e.Mark(p.startMark)
	}
	step, wait := p.step, p.wait
	mr, ok := s.(ManualRecoverer)
	manual := (d.opts.Manual || ok && mr.ManualRecovery()) && p.manual != nil
	if manual {
		step, wait = p.manual, p.manualWait
	}
	deadline := r.deadline(wait)
	if manual && d.opts.Prompt != nil {
		fmt.Fprintf(d.opts.Prompt, "\n[%s] Recover by hand, then labsbx carries on (deadline %s):\n\n    %s\n\n", s.Name(), deadline, s.Runbook(e))
	}
	try := func(ctx context.Context) error {
		if err := step(s, ctx, e); err != nil || e.Apps == nil || p.apps == nil {
			return err
		}
		return p.apps(r, ctx)
	}
	switch wait {
	case once:
		return try(ctx)
	case onceWithinTimeout:
		return tryWithin(ctx, deadline, try)
	}
	return pollTries(ctx, deadline, tryTimeout(s), try)
}

func (d *Drill) recordFault(st *state.State, s Scenario) error {
	f := state.Fault{Scenario: s.Name(), Kind: s.Name(), InjectedAt: d.now()}
	if rec, ok := s.(Recordable); ok {
		kind, detail, err := rec.Record()
		if err != nil {
			return err
		}
		f.Kind, f.Detail = kind, detail
	}
	st.Faults = append(st.Faults, f)
	return d.cfg.Store.Save(st, d.now())
}

func (d *Drill) clearFault(st *state.State, s Scenario) error {
	st.Faults = slices.DeleteFunc(st.Faults, func(f state.Fault) bool { return f.Scenario == s.Name() })
	return d.cfg.Store.Save(st, d.now())
}

// tryWithin runs fn once, cut at timeout: a step that hangs (a command probe, a
// request nobody answers) fails then, saying so.
func tryWithin(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := fn(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("not within %s: %w", timeout, err)
	}
	return err
}

// poll calls fn every PollInterval until it returns nil, a permanent error or the
// timeout passes; the error is then fn's last one. Each try gets a short deadline of
// its own, so that one hung request cannot eat the whole phase.
func poll(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	return pollTries(ctx, timeout, defaultTryTimeout, fn)
}

// pollTries is poll with tries of at most try each.
func pollTries(ctx context.Context, timeout, try time.Duration, fn func(context.Context) error) error {
	return wait.Poll(ctx, wait.Options{Interval: PollInterval, Timeout: timeout, TryTimeout: try}, func(ctx context.Context) error {
		err := fn(ctx)
		var p permanent
		if errors.As(err, &p) {
			return wait.Permanent(p.err)
		}
		return err
	})
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// milestoneOffsets are the report's milestones: each with its offset from start.
func milestoneOffsets(ms []Milestone, start time.Time) []report.MilestoneOffset {
	// Milestones taken from VSO's Events come in late, at their own earlier times.
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b Milestone) int { return a.At.Compare(b.At) })
	out := make([]report.MilestoneOffset, 0, len(ms))
	for _, m := range ms {
		out = append(out, report.MilestoneOffset{Name: m.Name, At: m.At, OffsetMs: m.At.Sub(start).Milliseconds()})
	}
	return out
}
