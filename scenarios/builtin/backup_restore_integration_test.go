package builtin_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/sandboxtest"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/catalogue"
)

// wrong-key and backup-restore on a real vault-profile sandbox; then a backup-restore
// left with its Vault destroyed (--no-recover) is brought back by drill recover.
func TestIntegrationBackupRestoreAndWrongKey(t *testing.T) {
	conf := sandboxtest.Up(t, "it-backup")
	ctx := context.Background()
	rep, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: "it-backup", Scenarios: []string{"wrong-key", "backup-restore"}, Timeout: time.Minute}).Run(ctx)
	if err != nil {
		t.Fatalf("drills: %v", err)
	}
	milestones := map[string][]string{}
	for _, s := range rep.Scenarios {
		for _, m := range s.Milestones {
			milestones[s.Name] = append(milestones[s.Name], m.Name)
		}
		t.Logf("%s: detect %d ms, recover %d ms, milestones %v", s.Name, s.TimeToDetectMs, s.TimeToRecoverMs, milestones[s.Name])
		if s.TimeToRecoverMs <= 0 {
			t.Errorf("%s: time to recover %d ms", s.Name, s.TimeToRecoverMs)
		}
	}
	if !subsequence(milestones["wrong-key"], []string{"the stale key is refused; Vault stays sealed with no unseal in progress", "unsealed with the right key"}) {
		t.Errorf("wrong-key milestones: %v", milestones["wrong-key"])
	}
	br := strings.Join(milestones["backup-restore"], "\n")
	for _, want := range []string{"backup taken", "data volume destroyed", "RPO: the backup was", "storage restored", "unsealed with the backed-up key"} {
		if !strings.Contains(br, want) {
			t.Errorf("backup-restore lacks milestone %q:\n%s", want, br)
		}
	}

	// Interrupted with Vault's data destroyed: drill recover restores it.
	_, err = scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: "it-backup", Scenarios: []string{"backup-restore"}, NoRecover: true, Timeout: time.Minute}).Run(ctx)
	if !errors.Is(err, scenarios.ErrVerifyFailed) {
		t.Fatalf("--no-recover: %v", err)
	}
	done, err := scenarios.Recover(ctx, conf, catalogue.Drills(), "it-backup")
	if err != nil {
		t.Fatalf("drill recover: %v (did %+v)", err, done)
	}
	t.Logf("drill recover: %+v", done)
	if fmt.Sprint(done) == "" || !strings.Contains(fmt.Sprint(done), "restored Vault's storage from the backup") {
		t.Errorf("drill recover did not say it restored the storage: %+v", done)
	}
	if _, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: "it-backup", Scenarios: []string{"seal"}, Timeout: time.Minute}).Run(ctx); err != nil {
		t.Errorf("a drill after the recovery: %v", err)
	}
}
