package scenarios

import (
	"fmt"
	"strings"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// Factory makes a fresh scenario for one run, so that what a scenario carries from one
// phase to the next lives in its own fields and never leaks into the next run.
type Factory func() Scenario

// entry is one line of the catalogue.
type entry struct {
	new Factory
	// group is a name that runs every drill of the group, in catalogue order
	// (`labsbx drill run broken-rotation`).
	group string
	// only: `drill run --all` runs the drill only on a sandbox where this holds (nil:
	// on every sandbox). A drill named explicitly runs anyway and fails its
	// steady-state phase, saying what is missing.
	only func(*state.State) bool
}

// catalogue is every drill, in the order a person meets them: `drill list`, `drill run
// --all`, the groups and `drill recover` all read it. A new drill is one file (its type
// and factory) and one line here.
var catalogue = []entry{
	{new: newSeal},
	{new: newLostLease},
	{new: newBrokenRotation("grant"), group: "broken-rotation"},
	{new: newBrokenRotation("role"), group: "broken-rotation"},
	{new: newFullRestart},
	{new: newWrongKey},
	{new: newBackupRestore, only: vaultProfile},
	{new: newPolicyIsolation},
	{new: newVMNodeLoss, only: withVMs},
}

// vaultProfile: the sandbox has the vault profile (its Vault's storage is a volume
// labsbx owns).
func vaultProfile(st *state.State) bool { return st.Profile == config.ProfileVault }

// withVMs: the sandbox has arm64 VMs (`labsbx up --vms N`).
func withVMs(st *state.State) bool { return len(st.VMs) > 0 }

// byName indexes the catalogue by scenario name; building it checks that no name is
// taken twice, by two drills or by a drill and a group.
var byName = indexCatalogue(catalogue)

func indexCatalogue(cat []entry) map[string]entry {
	idx := map[string]entry{}
	for _, e := range cat {
		name := e.new().Name()
		if _, dup := idx[name]; dup {
			panic("scenario in the catalogue twice: " + name)
		}
		idx[name] = e
	}
	for _, e := range cat {
		if _, clash := idx[e.group]; clash {
			panic("group named like a scenario: " + e.group)
		}
	}
	return idx
}

// newScenario makes a fresh scenario of that name.
func newScenario(name string) (Scenario, bool) {
	e, ok := byName[name]
	if !ok {
		return nil, false
	}
	return e.new(), true
}

// All returns a fresh value of every scenario, in catalogue order.
func All() []Scenario {
	out := make([]Scenario, 0, len(catalogue))
	for _, e := range catalogue {
		out = append(out, e.new())
	}
	return out
}

// Applies reports whether `drill run --all` runs s on the sandbox st.
func Applies(s Scenario, st *state.State) bool {
	e, ok := byName[s.Name()]
	return !ok || e.only == nil || e.only(st)
}

// ApplicableTo returns the scenarios that apply to st, in catalogue order.
func ApplicableTo(st *state.State) []Scenario {
	var out []Scenario
	for _, e := range catalogue {
		if e.only == nil || e.only(st) {
			out = append(out, e.new())
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
func Groups() []Group {
	var out []Group
	at := map[string]int{}
	for _, e := range catalogue {
		if e.group == "" {
			continue
		}
		i, ok := at[e.group]
		if !ok {
			i = len(out)
			at[e.group] = i
			out = append(out, Group{Name: e.group})
		}
		out[i].Members = append(out[i].Members, e.new().Name())
	}
	return out
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
func Lookup(names []string) ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	add := func(e entry) {
		s := e.new()
		if !seen[s.Name()] {
			seen[s.Name()] = true
			out = append(out, s)
		}
	}
	for _, n := range names {
		if e, ok := byName[n]; ok {
			add(e)
			continue
		}
		found := false
		for _, e := range catalogue {
			if e.group == n {
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
