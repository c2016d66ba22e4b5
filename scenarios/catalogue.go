package scenarios

import (
	"errors"
	"fmt"
	"strings"

	"github.com/arcodange/labsbx/sandbox/state"
)

// Factory makes a fresh scenario for one run, so that what a scenario carries from one
// phase to the next lives in its own fields and never leaks into the next run.
type Factory func() Scenario

// Entry is one line of a catalogue.
type Entry struct {
	New Factory
	// Group is a name that runs every drill of the group, in catalogue order
	// (`labsbx drill run broken-rotation`).
	Group string
	// Only: `drill run --all` runs the drill only on a sandbox where this holds (nil:
	// on every sandbox). A drill named explicitly runs anyway and fails its
	// steady-state phase, saying what is missing.
	Only func(*state.State) bool
}

// Restore makes again the scenario whose fault record carries it whole (Recordable),
// so that `drill recover` can undo the fault; it says which drill it could not make.
type Restore func(f state.Fault) (Scenario, error)

// Catalogue is every drill, in the order a person meets them: `drill list`, `drill run
// --all`, the groups and `drill recover` all read it. The built-in one is
// scenarios/catalogue's.
type Catalogue struct {
	entries []Entry
	// byName indexes the entries by scenario name.
	byName map[string]Entry
	// restore makes a recorded scenario again, by its fault's kind.
	restore map[string]Restore
}

// NewCatalogue makes a catalogue of entries, in that order, whose recorded faults
// restore makes again by kind. It panics when a name is taken twice, by two drills or
// by a drill and a group: the catalogue is written in the code.
func NewCatalogue(entries []Entry, restore map[string]Restore) *Catalogue {
	idx := map[string]Entry{}
	for _, e := range entries {
		name := e.New().Name()
		if _, dup := idx[name]; dup {
			panic("scenario in the catalogue twice: " + name)
		}
		idx[name] = e
	}
	for _, e := range entries {
		if _, clash := idx[e.Group]; clash {
			panic("group named like a scenario: " + e.Group)
		}
	}
	return &Catalogue{entries: entries, byName: idx, restore: restore}
}

// New makes a fresh scenario of that name.
func (c *Catalogue) New(name string) (Scenario, bool) {
	e, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	return e.New(), true
}

// All returns a fresh value of every scenario, in catalogue order.
func (c *Catalogue) All() []Scenario {
	out := make([]Scenario, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e.New())
	}
	return out
}

// Applies reports whether `drill run --all` runs s on the sandbox st.
func (c *Catalogue) Applies(s Scenario, st *state.State) bool {
	e, ok := c.byName[s.Name()]
	return !ok || e.Only == nil || e.Only(st)
}

// ApplicableTo returns the scenarios that apply to st, in catalogue order.
func (c *Catalogue) ApplicableTo(st *state.State) []Scenario {
	var out []Scenario
	for _, e := range c.entries {
		if e.Only == nil || e.Only(st) {
			out = append(out, e.New())
		}
	}
	return out
}

// Group is a name that runs several scenarios.
type Group struct {
	Name    string
	Members []string
}

// Groups returns the catalogue's groups, in catalogue order.
func (c *Catalogue) Groups() []Group {
	var out []Group
	at := map[string]int{}
	for _, e := range c.entries {
		if e.Group == "" {
			continue
		}
		i, ok := at[e.Group]
		if !ok {
			i = len(out)
			at[e.Group] = i
			out = append(out, Group{Name: e.Group})
		}
		out[i].Members = append(out[i].Members, e.New().Name())
	}
	return out
}

// taken: name is a drill's or a group's of the catalogue.
func (c *Catalogue) taken(name string) bool {
	if _, ok := c.byName[name]; ok {
		return true
	}
	for _, e := range c.entries {
		if e.Group == name {
			return true
		}
	}
	return false
}

// String says what the group runs, for `drill list`.
func (g Group) String() string {
	prefix := g.Name + "/"
	variants := true
	for _, m := range g.Members {
		variants = variants && strings.HasPrefix(m, prefix)
	}
	switch {
	case variants && len(g.Members) == 2:
		return fmt.Sprintf("'%s' runs both %s* variants.", g.Name, prefix)
	case variants:
		return fmt.Sprintf("'%s' runs all %d %s* variants.", g.Name, len(g.Members), prefix)
	}
	return fmt.Sprintf("'%s' runs %s.", g.Name, strings.Join(g.Members, ", "))
}

// Lookup resolves names (scenario names or groups) to fresh scenarios, in the given
// order, without duplicates.
func (c *Catalogue) Lookup(names []string) ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	add := func(e Entry) {
		s := e.New()
		if !seen[s.Name()] {
			seen[s.Name()] = true
			out = append(out, s)
		}
	}
	for _, n := range names {
		if e, ok := c.byName[n]; ok {
			add(e)
			continue
		}
		found := false
		for _, e := range c.entries {
			if e.Group == n {
				add(e)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q; `labsbx drill list` shows them", n)
		}
	}
	return out, nil
}

// ApplyTarget gives to to every change drill of list (Targeted); it is an error when
// to is given and no drill of list takes it, or when a change drill has no target.
func ApplyTarget(list []Scenario, to string) error {
	took := false
	for _, s := range list {
		t, ok := s.(Targeted)
		if !ok {
			continue
		}
		if to != "" {
			if err := t.SetTarget(to); err != nil {
				return err
			}
			took = true
		}
		if t.Target() == "" {
			return fmt.Errorf("%s is a change: give what it changes to with --to (vault-upgrade: the Vault image, e.g. --to labsbx.local/vault:1.21.0)", s.Name())
		}
	}
	if to != "" && !took {
		return errors.New("--to: no drill named takes a target (vault-upgrade does)")
	}
	return nil
}
