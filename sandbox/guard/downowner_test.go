package guard

import (
	"errors"
	"strings"
	"testing"
)

func TestApproveLostUUID(t *testing.T) {
	u := "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	if err := ApproveLostUUID(LostUUID{Name: "demo", UUID: u}); err != nil {
		t.Errorf("a lost sandbox: %v", err)
	}
	if err := ApproveLostUUID(LostUUID{Name: "demo", UUID: u, VaultClusterID: "c-1"}); err != nil {
		t.Errorf("a lost sandbox whose Vault answers with a cluster_id no state records: %v", err)
	}
	for label, l := range map[string]LostUUID{
		"owner found":      {Name: "demo", UUID: u, OwnerRoot: "/home/u/.local/state/labsbx"},
		"live known Vault": {Name: "demo", UUID: u, VaultClusterID: "c-1", ClusterIDRoot: "/tmp/other root"},
	} {
		err := ApproveLostUUID(l)
		if !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "--uuid") || strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "LABSBX_HOME=") {
			t.Errorf("%s: %v", label, err)
		}
	}
	if got := DownHint("/tmp/other root", "demo"); got != `LABSBX_HOME='/tmp/other root' labsbx down --name demo` {
		t.Errorf("DownHint = %q", got)
	}
}

func TestKeepKeyError(t *testing.T) {
	err := KeepKeyError(KeptKey{StateDir: "/s/demo", Volume: "labsbx-demo-vault", VolumeUUID: "u1", StateUUID: "u2", SameVault: true})
	if !errors.Is(err, ErrKeptKey) || !strings.Contains(err.Error(), "/s/demo") || strings.Contains(err.Error(), "--force") {
		t.Errorf("KeepKeyError = %v", err)
	}
}
