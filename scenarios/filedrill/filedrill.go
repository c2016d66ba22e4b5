// Package filedrill runs a drill file (its document: scenarios/drillfile) as a
// scenario of the drill engine: its probes, its fault (built in or a command), its
// recovery and its rollback, and the fault record that lets `drill recover` undo it.
package filedrill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/builtin"
	"github.com/arcodange/labsbx/scenarios/drillfile"
	"github.com/arcodange/labsbx/scenarios/report"
)

// FaultKind marks a fault that a drill file injected: its Detail is the whole drill
// file, so that `labsbx drill recover` can roll it back as the file says (Restore).
const FaultKind = "drill-file"

// fileDrill runs a drill file through the same phase table as
// the built-in drills: its probes are the steady state, the symptom and the verify
// step, its fault is a built-in fault or a command, its recovery is built in, a
// person's (--manual or recovery.manual) or the lab's own script, and its rollback is
// the undo.
type fileDrill struct {
	d *drillfile.Drill
	// change is the built-in change drill a file's change names (vault-upgrade): its
	// phases run beside the file's probes.
	change scenarios.Scenario

	// What one run carries from phase to phase.
	mu          sync.Mutex
	verifyStart time.Time
	consumers   map[string]*scenarios.Consumer
	keyFile     string
	vars        []sandbox.EnvVar
}

// New makes a scenario of a loaded drill file.
func New(d *drillfile.Drill) scenarios.Scenario {
	f := &fileDrill{d: d}
	if c := d.Spec.Change; c != nil && c.Builtin == drillfile.ChangeVaultUpgrade {
		f.change = builtin.NewVaultUpgradeTo(c.To)
	}
	return f
}

// NewAll makes a scenario of each drill file, in order.
func NewAll(ds []*drillfile.Drill) []scenarios.Scenario {
	out := make([]scenarios.Scenario, 0, len(ds))
	for _, d := range ds {
		out = append(out, New(d))
	}
	return out
}

func (f *fileDrill) Name() string { return f.d.Metadata.Name }

// IsChange: a file with a change phase rehearses a change (scenarios.Changer).
func (f *fileDrill) IsChange() bool { return f.d.Spec.Change != nil }

func (f *fileDrill) Description() string {
	if f.d.Metadata.Description != "" {
		return f.d.Metadata.Description
	}
	if f.d.Spec.Change != nil {
		return fmt.Sprintf("drill file %s: %s", filepath.Base(f.d.Source), f.d.Spec.What())
	}
	return fmt.Sprintf("drill file %s: fault %s, recovery %s", filepath.Base(f.d.Source), f.d.Spec.Fault, f.d.Spec.Recovery.Kind())
}

// Runbook is recovery.manual, else the script, else labsbx's own step.
func (f *fileDrill) Runbook(e *scenarios.Env) string {
	r := f.d.Spec.Recovery
	switch {
	case r.Manual != "":
		return r.Manual
	case r.Run != "":
		return fmt.Sprintf("(in %s, with the sandbox's environment: eval \"$(labsbx env --name %s)\")\n    %s", f.d.Dir, e.State.Name, strings.ReplaceAll(strings.TrimSpace(r.Run), "\n", "\n    "))
	}
	if s := f.builtinScenario(); s != nil {
		return s.Runbook(e)
	}
	return "labsbx drill recover --name " + e.State.Name
}

// Source is the drill file.
func (f *fileDrill) Source() string { return f.d.Source }

func (f *fileDrill) Renew() scenarios.Scenario { return New(f.d) }

// SlowTries: one of its checks runs a command, which may take longer than labsbx's
// own checks.
func (f *fileDrill) SlowTries() bool {
	for _, ps := range [][]drillfile.Probe{f.d.Spec.Steady, f.d.Spec.Symptom, f.d.Spec.Verify} {
		for _, p := range ps {
			if p.Command != nil {
				return true
			}
		}
	}
	return false
}

// ManualRecovery: a file whose recovery is a person's step is run as --manual.
func (f *fileDrill) ManualRecovery() bool { return f.d.Spec.Recovery.Manual != "" }

// prepare checks the file against the sandbox (its apps and VMs, its URLs against the
// sandbox's endpoints) and makes the commands' environment, once per run.
func (f *fileDrill) prepare(ctx context.Context, e *scenarios.Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vars != nil {
		return nil
	}
	for _, a := range f.d.Apps() {
		if !slices.Contains(e.State.Spec.Apps, a) {
			return scenarios.Permanent(fmt.Errorf("%s names app %q, which sandbox %q does not have (apps: %s)", f.d.Source, a, e.State.Name, strings.Join(e.State.Spec.Apps, ", ")))
		}
	}
	if vmName := f.d.Spec.Fault.VM; vmName != "" && e.State.VM(vmName) == nil {
		return scenarios.Permanent(fmt.Errorf("%s names VM %q, which sandbox %q does not have (labsbx vm list)", f.d.Source, vmName, e.State.Name))
	}
	all, err := sandbox.SandboxVars(e.Vault, e.PGAdmin)
	if err != nil {
		return err
	}
	var endpoints []string
	vars := []sandbox.EnvVar{}
	for _, v := range all {
		if v.Name == "VAULT_TOKEN" && !f.d.Spec.Env.VaultToken {
			continue
		}
		if v.Name == "VAULT_ADDR" {
			endpoints = append(endpoints, v.Value)
		}
		vars = append(vars, v)
	}
	if e.State.Kube != nil && e.State.Kube.Server != "" {
		endpoints = append(endpoints, e.State.Kube.Server)
	}
	for _, u := range f.d.URLs {
		if err := guard.ApproveRunbookURL(f.d.Source+": "+u.Field, u.URL, endpoints); err != nil {
			return scenarios.Permanent(err)
		}
	}
	// The lab's runbooks read ~/.arcodange/cluster-keys.json; a drill's read the
	// sandbox's key, in the same shape, from here.
	kp, err := e.State.SecretPath(drillKeysFile)
	if err != nil {
		return err
	}
	if err := vault.SaveKeys(kp, e.Vault.Keys); err != nil {
		return err
	}
	self, _ := os.Executable()
	vars = append(vars, sandbox.EnvVar{Name: "LABSBX_UNSEAL_KEY_FILE", Value: kp.Path()}, sandbox.EnvVar{Name: "LABSBX_NAME", Value: e.State.Name},
		sandbox.EnvVar{Name: "LABSBX_HOME", Value: filepath.Dir(e.State.Dir())}, sandbox.EnvVar{Name: "LABSBX", Value: self})
	f.keyFile, f.vars = kp.Path(), vars
	return nil
}

// drillKeysFile is the sandbox's key file in the shape of the lab's cluster-keys.json,
// for the commands of a drill file; it is removed when the drill ends.
const drillKeysFile = "drill-unseal-keys.json"

func (f *fileDrill) Cleanup() {
	if f.keyFile != "" {
		_ = os.Remove(f.keyFile)
	}
}

func (f *fileDrill) Steady(ctx context.Context, e *scenarios.Env) error {
	if err := f.prepare(ctx, e); err != nil {
		return err
	}
	if err := f.probeAll(ctx, e, scenarios.PhaseSteady, f.d.Spec.Steady, false); err != nil {
		return err
	}
	if f.change != nil {
		return f.change.Steady(ctx, e)
	}
	return nil
}

func (f *fileDrill) Inject(ctx context.Context, e *scenarios.Env) error {
	if err := f.prepare(ctx, e); err != nil {
		return err
	}
	if c := f.d.Spec.Change; c != nil {
		if f.change != nil {
			return f.change.Inject(ctx, e)
		}
		timeout := c.Timeout.Duration
		if timeout == 0 {
			timeout = drillfile.DefaultRecoveryTimeout
		}
		return f.run(ctx, e, scenarios.PhaseInject, "spec.change.run", c.Run, timeout)
	}
	fl := f.d.Spec.Fault
	if fl.Run != "" {
		return f.run(ctx, e, scenarios.PhaseInject, "spec.fault.run", fl.Run, commandTimeout(e))
	}
	return f.injectBuiltin(ctx, e)
}

func (f *fileDrill) Observe(ctx context.Context, e *scenarios.Env) error {
	if f.change != nil {
		// First: it opens the session to the new Vault that the probes then use.
		if err := f.change.Observe(ctx, e); err != nil {
			return err
		}
	}
	return f.probeAll(ctx, e, scenarios.PhaseObserve, f.d.Spec.Symptom, true)
}

func (f *fileDrill) Recover(ctx context.Context, e *scenarios.Env) error {
	r := f.d.Spec.Recovery
	switch {
	case r.Run != "":
		timeout := r.Timeout.Duration
		if timeout == 0 {
			timeout = commandTimeout(e)
		}
		return f.run(ctx, e, scenarios.PhaseRecover, "spec.recovery.run", r.Run, timeout)
	case r.Builtin && f.change != nil:
		return f.change.Recover(ctx, e)
	case r.Builtin:
		return f.recoverBuiltin(ctx, e)
	case r.Manual == "" && f.change != nil:
		return f.change.Recover(ctx, e)
	case r.Manual == "" && f.d.Spec.Change != nil:
		return nil // a change that is a command has nothing to recover
	}
	return errors.New("recovery.manual is a person's step: run it with labsbx drill run --manual")
}

// Commit makes a built-in change stand once the verify phase passed
// (scenarios.Committer).
func (f *fileDrill) Commit(ctx context.Context, e *scenarios.Env) {
	if cv, ok := f.change.(builtin.ChangeVerifier); ok {
		cv.Commit(ctx, e)
	}
}

func (f *fileDrill) Verify(ctx context.Context, e *scenarios.Env) error {
	f.mu.Lock()
	if f.verifyStart.IsZero() {
		f.verifyStart = e.Now()
	}
	start := f.verifyStart
	f.mu.Unlock()
	cv, _ := f.change.(builtin.ChangeVerifier)
	if cv != nil {
		// The built-in change's checks first (what was lost fails at once), then the
		// file's probes; the change stands once the verify phase passed (Commit).
		if err := cv.VerifyChange(ctx, e); err != nil {
			return err
		}
	}
	err := f.probeAll(ctx, e, scenarios.PhaseVerify, f.d.Spec.Verify, true)
	if err == nil {
		return nil
	}
	// A probe past its own timeout fails verify now.
	for _, p := range f.d.Spec.Verify {
		if t := p.Timeout.Duration; t > 0 && e.Now().Sub(start) > t && !f.passedOnce(e, scenarios.PhaseVerify, p) {
			return scenarios.Permanent(fmt.Errorf("%s did not hold within its timeout %s: %w", p.Label(), t, err))
		}
	}
	return err
}

// passedOnce: the probe's first success in phase was marked.
func (f *fileDrill) passedOnce(e *scenarios.Env, phase string, p drillfile.Probe) bool {
	return !e.MilestoneAt(probeMilestone(phase, p)).IsZero()
}

func (f *fileDrill) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	rb := f.d.Spec.Rollback
	if rb.Run != "" {
		if err := f.prepare(ctx, e); err != nil {
			return "", err
		}
		if err := f.run(ctx, e, "rollback", "spec.rollback.run", rb.Run, commandTimeout(e)); err != nil {
			return "", err
		}
		return "ran the drill file's rollback", nil
	}
	if f.change != nil {
		return f.change.Undo(ctx, e)
	}
	if f.d.Spec.Change != nil || f.d.Spec.Fault.Builtin == "" {
		return "the drill file has no rollback", nil
	}
	return f.undoBuiltin(ctx, e)
}

// ChangeResult is the built-in change's account, for the report.
func (f *fileDrill) ChangeResult() *report.Change {
	if cr, ok := f.change.(scenarios.ChangeReporter); ok {
		return cr.ChangeResult()
	}
	return nil
}

// probeAll runs every probe once and records each outcome; polled phases call it
// again until all hold. The first success of each probe of a polled phase is a
// milestone.
func (f *fileDrill) probeAll(ctx context.Context, e *scenarios.Env, phase string, probes []drillfile.Probe, polled bool) error {
	var errs []error
	results := make([]report.ProbeResult, 0, len(probes))
	for _, p := range probes {
		t0 := e.Now()
		err := f.probe(ctx, e, p)
		if p.Expect == drillfile.ExpectFail {
			if err == nil {
				err = errors.New("still holds")
			} else {
				err = nil
			}
		}
		pr := report.ProbeResult{Phase: phase, Probe: p.Label(), Kind: p.Kind(), Pass: err == nil, DurationMs: e.Now().Sub(t0).Milliseconds()}
		if err != nil {
			pr.Detail = e.Redact(err.Error())
			errs = append(errs, fmt.Errorf("%s: %w", p.Label(), err))
		} else if polled {
			e.MarkOnce(probeMilestone(phase, p))
		}
		results = append(results, pr)
	}
	e.SetProbes(phase, results)
	return errors.Join(errs...)
}

func probeMilestone(phase string, p drillfile.Probe) string {
	what := "symptom"
	if phase == scenarios.PhaseVerify {
		what = "verified"
	}
	return what + ": " + p.Label()
}

// commandTimeout bounds each command of the file that gives no timeout of its own:
// the drill's timeout (--timeout, spec.drills.timeout), or outside a drill run
// DefaultRecoveryTimeout.
func commandTimeout(e *scenarios.Env) time.Duration {
	if t := e.Timeout(); t > 0 {
		return t
	}
	return drillfile.DefaultRecoveryTimeout
}

// outputLimit bounds what the report keeps of one command's output.
const outputLimit = 16 << 10

// run runs a drill file's command: sh -c in the file's directory, with the runbook
// environment (guard.RunbookEnv), within timeout. Its output, redacted, goes into the
// report; a non-zero exit fails the step.
func (f *fileDrill) run(ctx context.Context, e *scenarios.Env, phase, field, script string, timeout time.Duration) error {
	code, out, err := f.exec(ctx, e, script, timeout)
	e.AddOutput(report.CommandOutput{Phase: phase, Field: field, Command: e.Redact(strings.TrimSpace(script)), ExitCode: code, Output: out})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s exited with status %d%s", field, code, lastLine(out))
	}
	return nil
}

func (f *fileDrill) exec(ctx context.Context, e *scenarios.Env, script string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var buf bytes.Buffer
	out := &limitedWriter{w: &buf, n: outputLimit}
	// The command runs inside the sandbox's fence (its ports as recorded now, its own
	// HOME): made for each command, since a fault may have moved a container.
	fence, err := sandbox.FenceOf(e.Conn(), e.Config().Getenv)
	if err != nil {
		return -1, "", err
	}
	run := &sandbox.ExecLocal{Args: []string{"sh", "-c", script}, Getenv: e.Config().Getenv, Dir: f.d.Dir, Stdout: out, Stderr: out, Fence: fence, Reaper: e.Config().Reaper}
	code, err := run.Run(ctx, f.vars)
	text := e.Redact(buf.String())
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return -1, text, fmt.Errorf("did not finish within %s", time.Since(start).Round(100*time.Millisecond))
	case err != nil:
		return -1, text, err
	}
	return code, text, nil
}

func lastLine(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return ": " + out
}

// limitedWriter keeps the first n bytes and drops the rest, saying so once.
type limitedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
	n  int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if left := l.n - l.w.Len(); left > 0 {
		l.w.Write(p[:min(len(p), left)])
		if len(p) > left {
			l.w.WriteString("\n[output cut at 16 KiB]\n")
		}
	}
	return len(p), nil
}

var reAnyRegexp = regexp.MustCompile(`.*`)

// compile is a probe's regular expression (validated when the file was read).
func compile(re string) *regexp.Regexp {
	if re == "" {
		return reAnyRegexp
	}
	return regexp.MustCompile(re)
}

// recordedFile is what the sandbox state keeps of a drill file while its fault is in
// place: the whole document, and where its commands run.
type recordedFile struct {
	Source   string `json:"source"`
	Dir      string `json:"dir"`
	Document string `json:"document"`
}

func (f *fileDrill) Record() (kind, detail string, err error) {
	b, err := json.Marshal(recordedFile{Source: f.d.Source, Dir: f.d.Dir, Document: string(f.d.Raw)})
	return FaultKind, string(b), err
}

// Restore makes the scenario of a drill file recorded with its fault (FaultKind), to
// roll it back (`labsbx drill recover`). The document is judged again, as when it ran.
func Restore(f state.Fault) (scenarios.Scenario, error) {
	s, err := recorded(f.Detail)
	if err != nil {
		return nil, fmt.Errorf("undo drill file %s: %w", f.Scenario, err)
	}
	return s, nil
}

func recorded(detail string) (scenarios.Scenario, error) {
	var r recordedFile
	if err := json.Unmarshal([]byte(detail), &r); err != nil {
		return nil, fmt.Errorf("the state's record of a drill file is corrupt: %w", err)
	}
	d, err := drillfile.Parse(r.Source, []byte(r.Document))
	if err != nil {
		return nil, err
	}
	d.Dir = r.Dir
	return New(d), nil
}
