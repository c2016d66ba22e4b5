package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

func TestVMNodeLossApplies(t *testing.T) {
	without := &state.State{Name: "demo", Profile: config.ProfileVault}
	with := &state.State{Name: "demo", Profile: config.ProfileVault, VMs: []state.VMState{{Name: "vm-0"}}}
	has := func(list []Scenario) bool {
		for _, s := range list {
			if s.Name() == "vm-node-loss" {
				return true
			}
		}
		return false
	}
	if has(ApplicableTo(without)) || !has(ApplicableTo(with)) {
		t.Error("vm-node-loss must apply exactly to sandboxes with VMs")
	}
	if len(ApplicableTo(without)) != len(All())-1 {
		t.Errorf("without VMs, every other scenario applies: %d of %d", len(ApplicableTo(without)), len(All()))
	}
	if s, _ := Lookup([]string{"seal"}); !Applies(s[0], without) {
		t.Error("seal applies everywhere")
	}
	// full-restart applies to both profiles (containers, or the whole k3d cluster).
	full := &state.State{Name: "demo", Profile: config.ProfileFull}
	if s, _ := Lookup([]string{"full-restart"}); !Applies(s[0], full) || !Applies(s[0], without) {
		t.Error("full-restart must apply to both profiles")
	}
}

// A sandbox without VMs fails the steady state, saying how to get one.
func TestVMNodeLossWithoutVMs(t *testing.T) {
	e := &Env{State: &state.State{Name: "demo"}}
	s := newVMNodeLoss()
	err := s.Steady(context.Background(), e)
	if err == nil || !strings.Contains(err.Error(), "has no VMs") || !strings.Contains(err.Error(), "up --vms 1") {
		t.Errorf("steady state without VMs: %v", err)
	}
	if got := s.Runbook(e); got != "labsbx vm start vm-0 --name demo" {
		t.Errorf("runbook: %q", got)
	}
}
