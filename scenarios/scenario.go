// Package scenarios is the drill engine. A scenario does its part of each phase of a
// drill — steady-state check, inject, observe the symptom, recover, verify — and the
// engine runs the phases as their table says (phases.go), times them and reports
// (scenarios/report). The scenarios come from a Catalogue of factories (catalogue.go):
// the built-in drills (scenarios/builtin) in the order scenarios/catalogue gives, and
// drill files (scenarios/filedrill).
package scenarios

import (
	"context"

	"github.com/arcodange/labsbx/scenarios/report"
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
// type: a drill file implements them (scenarios/filedrill), a built-in drill need not.

// Sourced names the file a scenario came from, for the report.
type Sourced interface{ Source() string }

// Cleaner removes what a run left on disk, once the scenario ended (ran or undone).
type Cleaner interface{ Cleanup() }

// SlowTrier: one try of a polled step may take longer than labsbx's own checks (a
// drill file's command probes: an Ansible ping, a script).
type SlowTrier interface{ SlowTries() bool }

// ManualRecoverer: the scenario's recovery is always a person's step, as with --manual.
type ManualRecoverer interface{ ManualRecovery() bool }

// Recordable is a scenario that its fault record must carry whole, so that `drill
// recover` can undo it (a drill file: its whole document); kind is the fault's kind,
// and the catalogue's Restore of that kind makes the scenario again from detail.
type Recordable interface {
	Record() (kind, detail string, err error)
}

// Renewable makes a fresh value of itself for the next round of a game day.
type Renewable interface{ Renew() Scenario }

// Targeted is a change drill that takes what it changes to (vault-upgrade: the Vault
// image), from `drill run --to` or a drill file's change.to.
type Targeted interface {
	Target() string
	SetTarget(to string) error
}

// ChangeReporter is a change drill: the report carries its account of the change
// (versions, unavailability window, the evidence and what survived).
type ChangeReporter interface{ ChangeResult() *report.Change }
