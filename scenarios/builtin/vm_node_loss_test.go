package builtin

import (
	"context"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/scenarios"
)

// A sandbox without VMs fails the steady state, saying how to get one.
func TestVMNodeLossWithoutVMs(t *testing.T) {
	e := &scenarios.Env{State: &state.State{Name: "demo"}}
	s := NewVMNodeLoss()
	err := s.Steady(context.Background(), e)
	if err == nil || !strings.Contains(err.Error(), "has no VMs") || !strings.Contains(err.Error(), "up --vms 1") {
		t.Errorf("steady state without VMs: %v", err)
	}
	if got := s.Runbook(e); got != "labsbx vm start vm-0 --name demo" {
		t.Errorf("runbook: %q", got)
	}
}
