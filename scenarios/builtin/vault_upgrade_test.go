package builtin

import (
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

func TestVaultUpgradeTarget(t *testing.T) {
	s := NewVaultUpgrade()
	tg, ok := s.(scenarios.Targeted)
	if !ok {
		t.Fatal("vault-upgrade takes no target")
	}
	if err := scenarios.ApplyTarget([]scenarios.Scenario{s}, ""); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("no target: %v, want an error naming --to", err)
	}
	if err := tg.SetTarget("Not An Image"); err == nil {
		t.Error("an invalid image reference was taken")
	}
	if err := scenarios.ApplyTarget([]scenarios.Scenario{s}, "labsbx.local/vault:1.21.1"); err != nil {
		t.Fatal(err)
	}
	if got := s.(scenarios.Renewable).Renew().(scenarios.Targeted).Target(); got != "labsbx.local/vault:1.21.1" {
		t.Errorf("renewed target %q", got)
	}
	if err := scenarios.ApplyTarget([]scenarios.Scenario{NewSeal()}, "labsbx.local/vault:1.21.1"); err == nil {
		t.Error("--to with no change drill named was taken")
	}
	if _, ok := s.(scenarios.Recordable); !ok {
		t.Error("vault-upgrade is not recorded: a failed recovery would not roll back")
	}
}

func TestUnavailableMs(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		last, first time.Time
		want        int64
	}{
		{t0, t0.Add(1234 * time.Millisecond), 1234},
		{t0, time.Time{}, 0},
		{time.Time{}, t0, 0},
		{t0, t0.Add(-time.Second), 0},
	} {
		if got := unavailableMs(c.last, c.first); got != c.want {
			t.Errorf("unavailableMs(%v, %v) = %d, want %d", c.last, c.first, got, c.want)
		}
	}
}

func TestPlanUndo(t *testing.T) {
	rec := &changeRecord{FromImage: "labsbx.local/vault:1.21.0", ToImage: "labsbx.local/vault:1.21.1"}
	for _, c := range []struct {
		name      string
		rec       *changeRecord
		image     string
		container bool
		want      undoPlan
	}{
		{"interrupted before the backup", nil, "labsbx.local/vault:1.21.0", true, undoNothingChanged},
		{"backup taken, image unchanged", rec, "labsbx.local/vault:1.21.0", true, undoNotApplied},
		{"upgraded, not verified", rec, "labsbx.local/vault:1.21.1", true, undoRestore},
		{"upgrade interrupted with no container", rec, "labsbx.local/vault:1.21.1", false, undoRestore},
		{"rollback interrupted before the restore", rec, "labsbx.local/vault:1.21.0", false, undoRestore},
	} {
		if got := planUndo(c.rec, c.image, c.container); got != c.want {
			t.Errorf("%s: plan %d, want %d", c.name, got, c.want)
		}
	}
}

func TestVaultUpgradeChangeResult(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	v := &vaultUpgrade{to: "labsbx.local/vault:1.21.1"}
	if v.ChangeResult() != nil {
		t.Error("a drill refused before it began reports a change")
	}
	v.fromImage, v.fromVersion, v.toVersion = "labsbx.local/vault:1.21.0", "1.21.0", "1.21.1"
	v.lastGood, v.firstGood = t0, t0.Add(2500*time.Millisecond)
	v.evidence = []report.Evidence{{Name: "a", Survived: true}, {Name: "b", Detail: "the lease is lost"}}
	c := v.ChangeResult()
	if c.UnavailableMs != 2500 || c.FromVersion != "1.21.0" || c.ToVersion != "1.21.1" || !strings.Contains(c.Rollback, "downgrades") {
		t.Errorf("change %+v", c)
	}
	if lost := c.Lost(); len(lost) != 1 || lost[0].Name != "b" {
		t.Errorf("lost %+v", lost)
	}
	if got := lostEvidence(v.evidence); len(got) != 1 || !strings.Contains(got[0], "lease is lost") {
		t.Errorf("lostEvidence %q", got)
	}
}
