// Package scenarios is the drill engine. A scenario does its part of each phase of a
// drill — steady-state check, inject, observe the symptom, recover, verify — and the
// engine runs the phases as their table says (phases.go), times them and reports.
// One scenario lives in one file, and has one line in the catalogue (catalogue.go).
package scenarios

import (
	"context"
)

// Scenario is one failure drill.
type Scenario interface {
	// Name is what `labsbx drill run` takes.
	Name() string
	// Description says what breaks, in one line.
	Description() string
	// Runbook is the recovery step a person follows in --manual mode.
	Runbook(e *Env) string
	// Steady checks the steady state before the fault.
	Steady(ctx context.Context, e *Env) error
	// Inject breaks the sandbox. The engine has recorded the fault in the state before.
	Inject(ctx context.Context, e *Env) error
	// Observe returns nil once the expected symptom shows; the engine polls it.
	Observe(ctx context.Context, e *Env) error
	// Recover performs the runbook step.
	Recover(ctx context.Context, e *Env) error
	// Verify returns nil once the steady state is back; the engine polls it.
	Verify(ctx context.Context, e *Env) error
	// Undo restores the steady state after a drill that was interrupted, and says what it
	// did. It must be safe to run when the fault is not (or no longer) in place.
	Undo(ctx context.Context, e *Env) (string, error)
}

// The engine asks a scenario for more through these optional interfaces, never by its
// type: a drill file implements them (filedrill.go), a built-in drill need not.

// sourced names the file a scenario came from, for the report.
type sourced interface{ Source() string }

// cleaner removes what a run left on disk, once the scenario ended (ran or undone).
type cleaner interface{ cleanup() }

// slowTries: one try of a polled step may take longer than labsbx's own checks (a
// drill file's command checks: an Ansible ping, a script).
type slowTries interface{ slowTries() bool }

// manualRecovery: the scenario's recovery is always a person's step, as with --manual.
type manualRecovery interface{ manualRecovery() bool }

// recordable is a scenario that its fault record must carry whole, so that `drill
// recover` can undo it (a drill file: its whole document); Kind is the fault's kind.
type recordable interface {
	record() (kind, detail string, err error)
}

// renewable makes a fresh value of itself for the next round of a game day.
type renewable interface{ renew() Scenario }
