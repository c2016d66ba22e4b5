// Package scenarios is the drill engine: a scenario is a named list of phases —
// steady-state check, inject, observe the symptom, recover, verify — that the engine
// runs, times and reports. One scenario lives in one file.
package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/arcodange/labsbx/sandbox/state"
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

// Applicable is implemented by a scenario that needs something not every sandbox
// has (VMs, say). `drill run --all` runs only the scenarios that apply; a scenario
// named explicitly runs anyway and fails its steady-state phase, saying what is missing.
type Applicable interface {
	Applies(st *state.State) bool
}

// Applies reports whether s applies to the sandbox st.
func Applies(s Scenario, st *state.State) bool {
	a, ok := s.(Applicable)
	return !ok || a.Applies(st)
}

// ApplicableTo returns the scenarios of All that apply to st, in order.
func ApplicableTo(st *state.State) []Scenario {
	var out []Scenario
	for _, s := range All() {
		if Applies(s, st) {
			out = append(out, s)
		}
	}
	return out
}

// registry holds every scenario, by name.
var registry = map[string]Scenario{}

func register(s Scenario) {
	if _, dup := registry[s.Name()]; dup {
		panic("scenario registered twice: " + s.Name())
	}
	registry[s.Name()] = s
}

// groups expand a name to several scenarios: `broken-rotation` runs each of its variants.
var groups = map[string][]string{}

// All returns the scenarios in a stable order.
func All() []Scenario {
	out := make([]Scenario, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return order(out[i].Name()) < order(out[j].Name()) })
	return out
}

// order is the catalogue order: the drills a person meets first come first.
func order(name string) string {
	for i, p := range []string{"seal", "lost-lease", "broken-rotation", "full-restart"} {
		if name == p || strings.HasPrefix(name, p+"/") {
			return fmt.Sprintf("%d-%s", i, name)
		}
	}
	return "9-" + name
}

// Lookup resolves names (scenario names or groups) to scenarios, in the given order,
// without duplicates.
func Lookup(names []string) ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	add := func(s Scenario) {
		if !seen[s.Name()] {
			seen[s.Name()] = true
			out = append(out, s)
		}
	}
	for _, n := range names {
		if s, ok := registry[n]; ok {
			add(s)
			continue
		}
		if members, ok := groups[n]; ok {
			for _, m := range members {
				add(registry[m])
			}
			continue
		}
		return nil, fmt.Errorf("unknown scenario %q; `labsbx drill list` shows them", n)
	}
	return out, nil
}
