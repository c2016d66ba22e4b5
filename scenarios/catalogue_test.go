package scenarios

import (
	"strings"
	"testing"
)

func names(list []Scenario) string {
	var out []string
	for _, s := range list {
		out = append(out, s.Name())
	}
	return strings.Join(out, ",")
}

// The catalogue's order is the order a person meets the drills in.
func TestCatalogueOrderAndGroups(t *testing.T) {
	if got := names(All()); got != "seal,lost-lease,broken-rotation/grant,broken-rotation/role,full-restart,wrong-key,backup-restore,policy-isolation,vm-node-loss" {
		t.Errorf("All = %s", got)
	}
	g := Groups()
	if len(g) != 1 || g[0].Name != "broken-rotation" || strings.Join(g[0].Members, ",") != "broken-rotation/grant,broken-rotation/role" {
		t.Fatalf("Groups = %+v", g)
	}
	if got := g[0].String(); got != "'broken-rotation' runs both broken-rotation/* variants." {
		t.Errorf("group line %q", got)
	}
	for _, s := range All() {
		if got, ok := newScenario(s.Name()); !ok || got.Name() != s.Name() {
			t.Errorf("newScenario(%q) = %v, %v", s.Name(), got, ok)
		}
	}
	if _, ok := newScenario("broken-rotation"); ok {
		t.Error("a group is not a scenario that `drill recover` can undo")
	}
}

// A name is taken once, by one drill or one group.
func TestCatalogueRejectsClashes(t *testing.T) {
	panics := func(cat []entry) (p bool) {
		defer func() { p = recover() != nil }()
		indexCatalogue(cat)
		return false
	}
	if !panics([]entry{{new: newSeal}, {new: newSeal}}) {
		t.Error("a drill listed twice was accepted")
	}
	if !panics([]entry{{new: newSeal}, {new: newLostLease, group: "seal"}}) {
		t.Error("a group named like a drill was accepted")
	}
	if panics([]entry{{new: newSeal}, {new: newLostLease, group: "x"}}) {
		t.Error("distinct names refused")
	}
}

// Each run gets a fresh scenario: what one run carried from phase to phase is not
// there in the next.
func TestCatalogueMakesFreshScenarios(t *testing.T) {
	first, _ := Lookup([]string{"vm-node-loss"})
	first[0].(*vmNodeLoss).nonce = "from the first run"
	second, _ := Lookup([]string{"vm-node-loss"})
	if second[0].(*vmNodeLoss).nonce != "" {
		t.Error("a second run sees the first run's nonce")
	}
}
