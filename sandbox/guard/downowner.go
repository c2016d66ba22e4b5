package guard

import (
	"errors"
	"fmt"
	"strings"
)

// What down may not remove even with --uuid, and when it must keep a state dir. A
// sandbox's objects carry its UUID; `down --uuid U` is for a sandbox whose state is
// lost, so it removes U's objects only when no state labsbx can find records U, and
// never a running Vault that answers with a cluster_id that a state it can find
// records (downUUIDChecks). A state dir holds the only unseal key of its Vault's data
// volume: it goes only when that volume is gone, or proven another sandbox's
// (downKeepKeyChecks).

// LostUUID is what down found about the owner of the objects that --uuid names.
type LostUUID struct {
	Name, UUID string
	// OwnerRoot is a known state root whose state of Name records UUID ("": none).
	OwnerRoot string
	// VaultClusterID is what the running Vault of UUID answered ("": not running,
	// sealed or not answering); ClusterIDRoot a known root whose state of Name
	// records it ("": none).
	VaultClusterID, ClusterIDRoot string
}

// ApproveLostUUID decides whether `down --uuid` may remove the objects of l.UUID
// (downUUIDChecks).
func ApproveLostUUID(l LostUUID) error { return runChecks(downUUIDChecks, &l) }

func (l *LostUUID) owner() (string, error) {
	if l.OwnerRoot != "" {
		return "", refusef("sandbox %q with UUID %s is not lost: its state is in %s; remove it there with `%s`", l.Name, l.UUID, l.OwnerRoot, DownHint(l.OwnerRoot, l.Name))
	}
	return "no known state records UUID " + l.UUID, nil
}

func (l *LostUUID) vault() (string, error) {
	if l.VaultClusterID != "" && l.ClusterIDRoot != "" {
		return "", refusef("the running Vault of sandbox %q (UUID %s) answers with cluster_id %s, which the state in %s records: it is that sandbox's live Vault; remove it there with `%s`", l.Name, l.UUID, l.VaultClusterID, l.ClusterIDRoot, DownHint(l.ClusterIDRoot, l.Name))
	}
	return "no running Vault of that UUID answers with a cluster_id a known state records", nil
}

// DownHint is the command that removes sandbox name from the state root that owns it.
func DownHint(root, name string) string {
	return fmt.Sprintf("LABSBX_HOME=%s labsbx down --name %s", shellQuote(root), name)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// KeptKey is why down keeps a state dir: the Vault data volume it left alone, and the
// UUID that volume carries.
type KeptKey struct {
	StateDir, Volume, VolumeUUID, StateUUID string
	// SameVault is set when the Vault of that volume answers with the cluster_id this
	// state recorded: the state's UUID was changed after up.
	SameVault bool
}

// ErrKeptKey marks a down that kept the state dir because its unseal key may be the
// only one of a Vault data volume that still exists.
var ErrKeptKey = errors.New("state dir kept")

// KeepKeyError says why the state dir stays (downKeepKeyChecks): k is a Vault data
// volume that down left alone and that no other known state owns. It is not a
// refusal: down did its work, and keeps the key.
func KeepKeyError(k KeptKey) error { return runChecks(downKeepKeyChecks, &k) }

func (k *KeptKey) keepKey() (string, error) {
	why := "which no state labsbx knows records"
	if k.SameVault {
		why = "and its Vault answers with the cluster_id this state recorded: the state's UUID was changed after up"
	}
	return "", fmt.Errorf("%w: %s holds the unseal key of Vault data volume %s, which down left alone (it carries UUID %s, not this state's %s, %s); without the key that Vault can never be unsealed, so the state dir and its key stay. If the volume is this sandbox's, set the state's uuid back to %s and run down again; if it is not, copy the key out before removing the state dir by hand",
		ErrKeptKey, k.StateDir, k.Volume, k.VolumeUUID, k.StateUUID, why, k.VolumeUUID)
}
