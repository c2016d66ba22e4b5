package scenarios

import (
	"context"
	"encoding/xml"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/scenarios/report"
)

// fakeScenario is a scenario at the engine's boundary: it touches nothing real, and
// lets a test script each phase.
type fakeScenario struct {
	name      string
	observeOK time.Time // Observe succeeds from this time on
	broken    bool      // the fault is in place
	recoverFn func() error
	onInject  func()
	undoFn    func()
	undone    bool
}

func (f *fakeScenario) Name() string                       { return f.name }
func (f *fakeScenario) Description() string                { return "a fake fault" }
func (f *fakeScenario) Runbook(*Env) string                { return "fix it" }
func (f *fakeScenario) Steady(context.Context, *Env) error { return nil }
func (f *fakeScenario) Undo(context.Context, *Env) (string, error) {
	f.undone, f.broken = true, false
	if f.undoFn != nil {
		f.undoFn()
	}
	return "undone", nil
}
func (f *fakeScenario) Inject(context.Context, *Env) error {
	if f.onInject != nil {
		f.onInject()
	}
	f.broken = true
	return nil
}
func (f *fakeScenario) Observe(context.Context, *Env) error {
	if time.Now().Before(f.observeOK) {
		return errors.New("no symptom yet")
	}
	return nil
}
func (f *fakeScenario) Recover(context.Context, *Env) error {
	if f.recoverFn != nil {
		return f.recoverFn()
	}
	f.broken = false
	return nil
}
func (f *fakeScenario) Verify(context.Context, *Env) error {
	if f.broken {
		return errors.New("still broken")
	}
	return nil
}

// testCatalogue holds fakes named as built-in drills are, with a group.
var testCatalogue = NewCatalogue([]Entry{
	{New: fakeNamed("seal")},
	{New: fakeNamed("broken-rotation/grant"), Group: "broken-rotation"},
	{New: fakeNamed("broken-rotation/role"), Group: "broken-rotation"},
}, nil)

func fakeNamed(name string) Factory { return func() Scenario { return &fakeScenario{name: name} } }

func newTestDrill(t *testing.T, opts Options) (*Drill, *Env) {
	t.Helper()
	store, err := state.NewStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	st := store.New("t", config.DefaultSpec(), time.Now())
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	d := NewDrill(&sandbox.Configuration{Store: store}, testCatalogue, opts)
	d.vsoSlack = 0 // the fake apps answer at once; a test that waits for VSO sets it
	return d, &Env{State: st, now: time.Now}
}

func TestEnginePhasesAndTiming(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	f := &fakeScenario{name: "fake"}
	var faultsAtInject int
	f.onInject = func() {
		st, err := d.cfg.Store.Load("t")
		if err != nil {
			t.Fatal(err)
		}
		faultsAtInject = len(st.Faults)
		f.observeOK = time.Now().Add(300 * time.Millisecond)
	}
	res := d.RunScenario(context.Background(), e, f)
	if res.Result != report.ResultPassed {
		t.Fatalf("result %s: %s %s", res.Result, res.FailedPhase, res.Error)
	}
	if faultsAtInject != 1 {
		t.Errorf("the fault was not recorded in the state before inject (faults: %d)", faultsAtInject)
	}
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "steady-state,inject,observe,recover,verify" {
		t.Errorf("phases %s", got)
	}
	// Detection is polled every PollInterval: the measured time is within one interval
	// (plus scheduling slack) of the moment the symptom appeared.
	if res.TimeToDetectMs < 300 || res.TimeToDetectMs > 300+PollInterval.Milliseconds()+150 {
		t.Errorf("time to detect %d ms, want about 300 ms", res.TimeToDetectMs)
	}
	st, _ := d.cfg.Store.Load("t")
	if len(st.Faults) != 0 {
		t.Errorf("fault not cleared after verify: %v", st.Faults)
	}
	if len(res.Milestones) < 3 || res.Milestones[0].Name != "drill started" {
		t.Errorf("milestones %v", res.Milestones)
	}
}

func TestEngineNoRecoverFailsVerify(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t", NoRecover: true})
	f := &fakeScenario{name: "fake"}
	res := d.RunScenario(context.Background(), e, f)
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseVerify {
		t.Fatalf("result %s in %q, want failed in verify", res.Result, res.FailedPhase)
	}
	if res.Phases[3].Result != report.ResultSkipped {
		t.Errorf("recover phase %s, want skipped", res.Phases[3].Result)
	}
	st, _ := d.cfg.Store.Load("t")
	if len(st.Faults) != 1 || st.Faults[0].Scenario != "fake" {
		t.Errorf("the fault must stay recorded for `drill recover`: %v", st.Faults)
	}
}

func TestEngineObserveDeadline(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t", Timeout: 300 * time.Millisecond})
	f := &fakeScenario{name: "fake", observeOK: time.Now().Add(time.Hour)}
	res := d.RunScenario(context.Background(), e, f)
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseObserve || !strings.Contains(res.Error, "no symptom yet") {
		t.Fatalf("result %s in %q (%s), want failed in observe", res.Result, res.FailedPhase, res.Error)
	}
	if !f.undone {
		t.Error("a fault whose symptom never showed must still be undone")
	}
}

func TestEngineRecoverFailure(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	f := &fakeScenario{name: "fake", recoverFn: func() error { return errors.New("key rejected") }}
	res := d.RunScenario(context.Background(), e, f)
	if res.FailedPhase != PhaseRecover || res.Phases[4].Result != report.ResultSkipped {
		t.Fatalf("failed phase %q, verify %s", res.FailedPhase, res.Phases[4].Result)
	}
}

func TestReportsValidate(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	ok := d.RunScenario(context.Background(), e, &fakeScenario{name: "ok"})
	d.opts.NoRecover = true
	bad := d.RunScenario(context.Background(), e, &fakeScenario{name: "bad"})
	rep := &report.Report{SchemaVersion: report.SchemaVersion, Sandbox: "t", Profile: "vault", LabsbxVersion: "dev", VaultVersion: "1.21.0",
		StartedAt: time.Now(), FinishedAt: time.Now(), Result: report.ResultFailed, Scenarios: []report.ScenarioResult{ok, bad}}
	dir := t.TempDir()
	if err := report.Write(dir, guard.WriteScope{}, rep); err != nil {
		t.Fatal(err)
	}
	j, _ := rep.JSON()
	if err := report.Validate(j); err != nil {
		t.Fatalf("report.json does not match its schema: %v", err)
	}
	broken := strings.Replace(string(j), `"result": "failed"`, `"result": "maybe"`, 1)
	if err := report.Validate([]byte(broken)); err == nil {
		t.Error("the schema accepted an unknown result")
	}
	x, _ := rep.JUnit()
	// junit.xml as a CI reads it.
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Failure *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(x, &suites); err != nil {
		t.Fatalf("junit.xml is not well-formed: %v", err)
	}
	s := suites.Suites[0]
	if suites.Tests != 2 || suites.Failures != 1 || s.Tests != 2 || s.Failures != 1 || len(s.Cases) != 2 {
		t.Fatalf("junit counts: %+v", suites)
	}
	if f := s.Cases[1].Failure; f == nil || f.Type != PhaseVerify || !strings.HasPrefix(f.Message, "verify: ") {
		t.Errorf("failure of the failed case: %+v", f)
	}
	md := rep.Markdown()
	for _, want := range []string{"```mermaid\n%%{init: {'theme':'base'}}%%\ngantt", "section phases", "1. **+", "| bad | ❌ failed"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestLookup(t *testing.T) {
	got, err := testCatalogue.Lookup([]string{"seal", "broken-rotation", "seal"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name())
	}
	if strings.Join(names, ",") != "seal,broken-rotation/grant,broken-rotation/role" {
		t.Errorf("Lookup = %v", names)
	}
	if _, err := testCatalogue.Lookup([]string{"nope"}); err == nil {
		t.Error("unknown scenario accepted")
	}
}

// BenchmarkEngineOverhead measures what the engine itself costs per phase, with a
// scenario that does nothing (target: under 50 ms per phase).
func BenchmarkEngineOverhead(b *testing.B) {
	store, _ := state.NewStore(filepath.Join(b.TempDir(), "state"))
	st := store.New("b", config.DefaultSpec(), time.Now())
	_ = store.Save(st, time.Now())
	d := NewDrill(&sandbox.Configuration{Store: store}, testCatalogue, Options{Name: "b", Timeout: time.Second})
	e := &Env{State: st, now: time.Now}
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		res := d.RunScenario(context.Background(), e, &fakeScenario{name: "noop"})
		if res.Result != report.ResultPassed {
			b.Fatal(res.Error)
		}
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/float64(b.N)/5, "ms/phase")
}

// promptFunc stands in for the person reading the runbook step.
type promptFunc func([]byte)

func (f promptFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// With --manual the recover phase prints the runbook step and waits for the steady
// state, never running the scenario's own recovery.
func TestEngineManualRecoveryWaitsForVerify(t *testing.T) {
	var prompt strings.Builder
	f := &fakeScenario{name: "fake", recoverFn: func() error { return errors.New("the automated recovery ran") }}
	d, e := newTestDrill(t, Options{Name: "t", Manual: true, Timeout: time.Second, Prompt: promptFunc(func(b []byte) {
		prompt.Write(b)
		f.broken = false // the person follows the step
	})})
	res := d.RunScenario(context.Background(), e, f)
	if res.Result != report.ResultPassed {
		t.Fatalf("result %s at %s: %s", res.Result, res.FailedPhase, res.Error)
	}
	if want := "[fake] Recover by hand, then labsbx carries on (deadline 1s):\n\n    fix it\n"; !strings.Contains(prompt.String(), want) {
		t.Errorf("prompt %q, want %q", prompt.String(), want)
	}
}

// A drill that fails in several phases is reported at the first: here observe never
// sees its symptom, then verify fails too; the report names observe and its error.
func TestEngineKeepsFirstFailure(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t", Timeout: 200 * time.Millisecond})
	f := &fakeScenario{name: "fake", observeOK: time.Now().Add(time.Hour)}
	f.undoFn = func() { f.broken = true } // the undo does not put it back either
	res := d.RunScenario(context.Background(), e, f)
	if res.FailedPhase != PhaseObserve || !strings.Contains(res.Error, "no symptom yet") {
		t.Fatalf("failed phase %q (%s), want the first failure: observe", res.FailedPhase, res.Error)
	}
	if v := res.Phases[len(res.Phases)-1]; v.Name != PhaseVerify || v.Result != report.ResultFailed || !strings.Contains(v.Error, "still broken") {
		t.Errorf("verify row %+v, want its own failure kept in its row", v)
	}
}

// A drill whose fault stays in the sandbox makes the engine skip the drills after it,
// saying which drill left it and what to run.
func TestEngineSkipsAfterFaultLeft(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	broken := &fakeScenario{name: "broken", recoverFn: func() error { return errors.New("key rejected") }}
	next := &fakeScenario{name: "next"}
	rep := &report.Report{}
	failed := d.runRounds(context.Background(), e, []Scenario{broken, next}, rep)
	if len(rep.Scenarios) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Scenarios))
	}
	got := rep.Scenarios[1]
	want := "skipped: sandbox left faulted by broken; run labsbx drill recover"
	if got.Result != report.ResultSkipped || got.Error != want {
		t.Errorf("second drill %s (%q), want skipped (%q)", got.Result, got.Error, want)
	}
	if next.broken || next.undone {
		t.Error("the second drill ran on the faulted sandbox")
	}
	if strings.Join(failed, ",") != "broken" {
		t.Errorf("failed %v, want [broken]", failed)
	}
	j, _ := (&report.Report{SchemaVersion: report.SchemaVersion, Sandbox: "t", Profile: "vault", LabsbxVersion: "dev", StartedAt: time.Now(), FinishedAt: time.Now(),
		Result: report.ResultFailed, Scenarios: rep.Scenarios}).JSON()
	if err := report.Validate(j); err != nil {
		t.Errorf("a report with a skipped drill does not match its schema: %v", err)
	}
}

// A drill that recovers leaves nothing behind: the next one runs.
func TestEngineRunsNextAfterRecovery(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	rep := &report.Report{}
	if failed := d.runRounds(context.Background(), e, []Scenario{&fakeScenario{name: "a"}, &fakeScenario{name: "b"}}, rep); len(failed) > 0 {
		t.Fatalf("failed %v", failed)
	}
	if rep.Scenarios[1].Result != report.ResultPassed {
		t.Errorf("second drill %s", rep.Scenarios[1].Result)
	}
}

// The phase timeout is --timeout, else the config's spec.drills.timeout, else
// DefaultTimeout.
func TestPhaseTimeout(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want time.Duration
	}{
		{Options{Timeout: time.Second, ConfigTimeout: time.Minute}, time.Second},
		{Options{ConfigTimeout: time.Minute}, time.Minute},
		{Options{}, DefaultTimeout},
	} {
		if got := tc.o.phaseTimeout(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.o, got, tc.want)
		}
	}
}

// checkingScenario reports checks from its verify, as a matrix drill does.
type checkingScenario struct {
	fakeScenario
	checks []report.Check
}

func (c *checkingScenario) Verify(ctx context.Context, e *Env) error {
	e.SetChecks(c.checks)
	return c.fakeScenario.Verify(ctx, e)
}

// The engine puts a scenario's checks in its result, and only in its own.
func TestEngineKeepsChecksPerScenario(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	one := report.Check{Identity: report.IdentityRuntime, App: "a", Target: "a", Operation: "read", Path: "p", Expected: report.Allow, Got: report.Allow, Pass: true}
	res := d.RunScenario(context.Background(), e, &checkingScenario{fakeScenario: fakeScenario{name: "matrix"}, checks: []report.Check{one}})
	if len(res.Checks) != 1 || res.Checks[0] != one {
		t.Errorf("checks %+v", res.Checks)
	}
	if res := d.RunScenario(context.Background(), e, &fakeScenario{name: "plain"}); res.Checks != nil {
		t.Errorf("a scenario without checks got %+v", res.Checks)
	}
}

// hangingSteady is a scenario whose steady state hangs until its context ends, as a
// command probe that never returns does.
type hangingSteady struct{ fakeScenario }

func (h *hangingSteady) Steady(ctx context.Context, _ *Env) error {
	<-ctx.Done()
	return ctx.Err()
}

// The steady state runs once, but within the drill's timeout: one that hangs fails
// then, and nothing of the fault follows.
func TestEngineSteadyStateObeysTheTimeout(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t", Timeout: 300 * time.Millisecond})
	h := &hangingSteady{fakeScenario{name: "hang"}}
	start := time.Now()
	done := make(chan report.ScenarioResult, 1)
	go func() { done <- d.RunScenario(context.Background(), e, h) }()
	var res report.ScenarioResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a hanging steady state held the drill past its timeout")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the steady state was cut after %s, want about 300ms", took)
	}
	if res.Result != report.ResultFailed || res.FailedPhase != PhaseSteady || !strings.Contains(res.Error, "not within 300ms") {
		t.Errorf("result %s, failed phase %q, error %q", res.Result, res.FailedPhase, res.Error)
	}
	if h.broken {
		t.Error("the fault was injected after a steady state that did not hold")
	}
}

// fakeChange is a change drill at the engine's boundary.
type fakeChange struct{ fakeScenario }

func (*fakeChange) IsChange() bool { return true }

// A change drill's report calls its inject phase "change", and so its marks; when the
// change fails, the failed phase is "change" too.
func TestEngineNamesAChangeAsOne(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	res := d.RunScenario(context.Background(), e, &fakeChange{fakeScenario{name: "upgrade"}})
	var names, marks []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
	}
	for _, m := range res.Milestones {
		marks = append(marks, m.Name)
	}
	if got := strings.Join(names, ","); got != "steady-state,change,observe,recover,verify" {
		t.Errorf("phases %s", got)
	}
	if got := strings.Join(marks, ","); !strings.Contains(got, "making the change,change made") || strings.Contains(got, "fault") {
		t.Errorf("milestones %s", got)
	}

	failed := d.RunScenario(context.Background(), e, &failingChange{})
	if failed.FailedPhase != PhaseChange {
		t.Errorf("a failed change: failed phase %q, want %q", failed.FailedPhase, PhaseChange)
	}
	// Both reports match report.json's schema.
	rep := &report.Report{SchemaVersion: report.SchemaVersion, Sandbox: "t", Profile: "vault", LabsbxVersion: "dev", VaultVersion: "1.21.0",
		StartedAt: time.Now(), FinishedAt: time.Now(), Result: report.ResultFailed, Scenarios: []report.ScenarioResult{res, failed}}
	j, _ := rep.JSON()
	if err := report.Validate(j); err != nil {
		t.Errorf("a change's report.json does not match its schema: %v", err)
	}
}

// failingChange is a change that fails to be made.
type failingChange struct{ fakeChange }

func (*failingChange) Name() string                       { return "broken-upgrade" }
func (*failingChange) Inject(context.Context, *Env) error { return errors.New("image missing") }

// committingChange passes verify on its second try, and loses its evidence once
// committed: Commit must come after the whole verify phase, once.
type committingChange struct {
	fakeChange
	tries, commits int
}

func (c *committingChange) Verify(context.Context, *Env) error {
	c.tries++
	switch {
	case c.commits > 0:
		return errors.New("evidence gone: committed before verify was over")
	case c.tries < 2:
		return errors.New("not yet")
	}
	return nil
}

func (c *committingChange) Commit(context.Context, *Env) { c.commits++ }

func TestEngineCommitsAfterVerify(t *testing.T) {
	d, e := newTestDrill(t, Options{Name: "t"})
	c := &committingChange{fakeChange: fakeChange{fakeScenario{name: "upgrade"}}}
	res := d.RunScenario(context.Background(), e, c)
	if res.Result != report.ResultPassed || c.commits != 1 || c.tries != 2 {
		t.Errorf("result %s (%s), %d tries, %d commits; want passed, 2 tries, 1 commit", res.Result, res.Error, c.tries, c.commits)
	}
	d.opts.NoRecover = true
	c = &committingChange{fakeChange: fakeChange{fakeScenario{name: "upgrade"}}}
	c.tries = -100 // verify never passes
	if res := d.RunScenario(context.Background(), e, c); res.Result != report.ResultFailed || c.commits != 0 {
		t.Errorf("a failed verify: result %s, %d commits; want failed, none", res.Result, c.commits)
	}
}
