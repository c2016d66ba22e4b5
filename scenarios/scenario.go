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
