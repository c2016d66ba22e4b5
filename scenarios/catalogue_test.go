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

// A name is taken once, by one drill or one group.
func TestCatalogueRejectsClashes(t *testing.T) {
	panics := func(cat []Entry) (p bool) {
		defer func() { p = recover() != nil }()
		NewCatalogue(cat, nil)
		return false
	}
	if !panics([]Entry{{New: fakeNamed("seal")}, {New: fakeNamed("seal")}}) {
		t.Error("a drill listed twice was accepted")
	}
	if !panics([]Entry{{New: fakeNamed("seal")}, {New: fakeNamed("lost-lease"), Group: "seal"}}) {
		t.Error("a group named like a drill was accepted")
	}
	if panics([]Entry{{New: fakeNamed("seal")}, {New: fakeNamed("lost-lease"), Group: "x"}}) {
		t.Error("distinct names refused")
	}
}
