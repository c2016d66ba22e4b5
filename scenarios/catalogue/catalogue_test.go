package catalogue

import (
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/scenarios"
)

func TestVMNodeLossApplies(t *testing.T) {
	without := &state.State{Name: "demo", Profile: config.ProfileVault}
	with := &state.State{Name: "demo", Profile: config.ProfileVault, VMs: []state.VMState{{Name: "vm-0"}}}
	has := func(list []scenarios.Scenario) bool {
		for _, s := range list {
			if s.Name() == "vm-node-loss" {
				return true
			}
		}
		return false
	}
	if has(Drills().ApplicableTo(without)) || !has(Drills().ApplicableTo(with)) {
		t.Error("vm-node-loss must apply exactly to sandboxes with VMs")
	}
	// vm-node-loss and vault-upgrade (a change, never run by --all) aside.
	if len(Drills().ApplicableTo(without)) != len(Drills().All())-2 {
		t.Errorf("without VMs, every other scenario applies: %d of %d", len(Drills().ApplicableTo(without)), len(Drills().All()))
	}
	if s, _ := Drills().Lookup([]string{"seal"}); !Drills().Applies(s[0], without) {
		t.Error("seal applies everywhere")
	}
	// vault-upgrade is a change: --all never runs it, on any sandbox.
	if s, _ := Drills().Lookup([]string{"vault-upgrade"}); Drills().Applies(s[0], without) {
		t.Error("drill run --all would upgrade the sandbox's Vault")
	}
	// full-restart applies to both profiles (containers, or the whole k3d cluster).
	full := &state.State{Name: "demo", Profile: config.ProfileFull}
	if s, _ := Drills().Lookup([]string{"full-restart"}); !Drills().Applies(s[0], full) || !Drills().Applies(s[0], without) {
		t.Error("full-restart must apply to both profiles")
	}
}

func names(list []scenarios.Scenario) string {
	var out []string
	for _, s := range list {
		out = append(out, s.Name())
	}
	return strings.Join(out, ",")
}

// The catalogue's order is the order a person meets the drills in.
func TestCatalogueOrderAndGroups(t *testing.T) {
	if got := names(Drills().All()); got != "seal,lost-lease,broken-rotation/grant,broken-rotation/role,full-restart,wrong-key,backup-restore,policy-isolation,vm-node-loss,vault-upgrade" {
		t.Errorf("All = %s", got)
	}
	g := Drills().Groups()
	if len(g) != 1 || g[0].Name != "broken-rotation" || strings.Join(g[0].Members, ",") != "broken-rotation/grant,broken-rotation/role" {
		t.Fatalf("Groups = %+v", g)
	}
	if got := g[0].String(); got != "'broken-rotation' runs both broken-rotation/* variants." {
		t.Errorf("group line %q", got)
	}
	for _, s := range Drills().All() {
		if got, ok := Drills().New(s.Name()); !ok || got.Name() != s.Name() {
			t.Errorf("Drills().New(%q) = %v, %v", s.Name(), got, ok)
		}
	}
	if _, ok := Drills().New("broken-rotation"); ok {
		t.Error("a group is not a scenario that `drill recover` can undo")
	}
}

// Each run gets a fresh scenario: what one run carried from phase to phase is not
// there in the next.
func TestCatalogueMakesFreshScenarios(t *testing.T) {
	first, _ := Drills().Lookup([]string{"vm-node-loss"})
	second, _ := Drills().Lookup([]string{"vm-node-loss"})
	if first[0] == second[0] {
		t.Error("a second run gets the first run's scenario")
	}
}
