package helmx

import (
	"errors"
	"testing"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// TestNewRefusesUnverified: Helm gets no client from a connection the guard has not
// verified (zero value or nil).
func TestNewRefusesUnverified(t *testing.T) {
	for _, k := range []*guard.Kube{nil, {}} {
		if _, err := New(k, nil); !errors.Is(err, guard.ErrRefused) {
			t.Errorf("New(%v) = %v, want a refusal", k, err)
		}
	}
}

func TestSameJSON(t *testing.T) {
	a := map[string]any{"apps": []any{"webapp"}, "service": map[string]any{"nodePort": float64(30432)}}
	b := map[string]any{"service": map[string]any{"nodePort": 30432}, "apps": []string{"webapp"}}
	if !sameJSON(a, b) {
		t.Error("values that encode alike differ")
	}
	b["apps"] = []string{"webapp", "crm"}
	if sameJSON(a, b) {
		t.Error("different values compare equal")
	}
	if !sameJSON(nil, map[string]any{}) {
		t.Error("nil and empty values differ")
	}
}
