package execx

import (
	"context"
	"strings"
	"testing"
)

// A command gets exactly the environment its caller gives: nil is an empty one, never
// the caller's own.
func TestCommandEnvironmentIsTheCallers(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "production")
	if env := Command(context.Background(), nil, "true").Env; env == nil || len(env) != 0 {
		t.Errorf("nil env gave %q, want an empty environment", env)
	}
	out, err := Run(context.Background(), []string{"A=1"}, nil, "/usr/bin/env")
	if err != nil {
		t.Skip("no /usr/bin/env here:", err)
	}
	if got := strings.TrimSpace(string(out)); got != "A=1" {
		t.Errorf("environment %q, want only A=1", got)
	}
}
