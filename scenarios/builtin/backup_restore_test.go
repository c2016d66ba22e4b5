package builtin

import (
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// After a kill inside backup-restore, drill recover restores Vault again unless the
// recorded container of a finished restore (or of no restore) is there: none, one the
// state does not record, or one a restore began and never recorded as done.
func TestBackupRestoreRevivesWhatAKillLeft(t *testing.T) {
	store, err := state.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := store.New("t", config.DefaultSpec(), time.Now())
	st.Vault = &state.VaultState{Addr: "http://127.0.0.1:18200", ContainerID: "recorded"}
	st.Faults = []state.Fault{{Scenario: "seal", Kind: "seal"}, {Scenario: "backup-restore", Kind: "backup-restore"}}
	if err := store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := &sandbox.Configuration{Store: store}
	for _, c := range []struct {
		label  string
		id     string
		exists bool
		want   bool
	}{
		{"the recorded container", "recorded", true, false},
		{"no container", "", false, true},
		{"a container the state does not record", "made-by-a-killed-restore", true, true},
	} {
		if got := mustRestore(st, c.id, c.exists); got != c.want {
			t.Errorf("%s: restore %v, want %v", c.label, got, c.want)
		}
	}

	// A restore under way is in the state until it is recorded as done.
	if err := markRestoring(cfg, st, true); err != nil {
		t.Fatal(err)
	}
	saved, err := store.Load("t")
	if err != nil {
		t.Fatal(err)
	}
	if !restoring(saved) || !mustRestore(saved, "recorded", true) {
		t.Error("a restore under way is not in the saved state, or its recorded container is used as it is")
	}
	if saved.Faults[0].Detail != "" {
		t.Errorf("another fault was marked: %+v", saved.Faults[0])
	}
	if err := markRestoring(cfg, st, false); err != nil {
		t.Fatal(err)
	}
	if saved, _ = store.Load("t"); restoring(saved) || mustRestore(saved, "recorded", true) {
		t.Error("a finished restore is still marked")
	}
}
