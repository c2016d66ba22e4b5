package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

// VaultUpgradeName is the change drill's name, which a drill file's change names too.
const VaultUpgradeName = "vault-upgrade"

// vaultUpgrade is a change drill: Vault is upgraded to another image, as an operator
// upgrades the lab's Vault. Before the change it writes evidence (KV v2 versions, a
// KV v1 entry, a transit ciphertext, a dynamic Postgres user and its lease, a CI
// login and an app token, the policies) and takes a backup of Vault's storage with
// nothing writing to it; the change makes Vault's container again on the new image
// and the same data volume (vault profile), or upgrades the Vault release with the
// new image so that its StatefulSet rolls the pod on the same claim (full profile).
// The symptom: Vault answers sealed, at the new version; recovery unseals with the
// sandbox's key; verify requires every piece of evidence back (on the full profile a
// Kubernetes login too). The report gives both versions, the unavailability window
// (last good request before, first good after) and what survived. Rollback — on a
// failed recovery at once, otherwise through `labsbx drill recover` — restores the
// pre-change backup onto the old image: Vault does not support downgrades, so the
// older Vault never opens the newer one's storage.
type vaultUpgrade struct {
	// to is the image to upgrade to (drill run --to, a drill file's change.to).
	to string

	fromImage, fromVersion, toVersion string
	ev                                *upgradeEvidence
	// lastGood and firstGood bound the unavailability window.
	lastGood, firstGood time.Time
	evidence            []report.Evidence
	rolledBack          string
}

// NewVaultUpgrade is the drill with no target yet (drill run --to gives it).
func NewVaultUpgrade() scenarios.Scenario { return &vaultUpgrade{} }

// NewVaultUpgradeTo is the drill upgrading to image (a drill file's change).
func NewVaultUpgradeTo(image string) scenarios.Scenario { return &vaultUpgrade{to: image} }

func (*vaultUpgrade) Name() string { return VaultUpgradeName }

// IsChange: an upgrade is a change, not a fault (scenarios.Changer).
func (*vaultUpgrade) IsChange() bool { return true }

func (*vaultUpgrade) Description() string {
	return "a change: Vault is upgraded to another image (--to) on the same storage; it comes back sealed, is unsealed with the sandbox's key, and every piece of evidence written before (KV v2 versions, KV v1, a transit ciphertext, a dynamic Postgres user and its lease, a CI login, an app token, the policies) must survive; reports both versions and the unavailability window"
}

func (v *vaultUpgrade) Runbook(e *scenarios.Env) string {
	return "labsbx vault unseal --name " + e.State.Name + "  # the upgraded Vault starts sealed; unseal it with the sandbox's key"
}

// Target is the image the drill upgrades to; SetTarget sets it (scenarios.Targeted).
func (v *vaultUpgrade) Target() string { return v.to }

func (v *vaultUpgrade) SetTarget(image string) error {
	if err := config.CheckImageRef(image); err != nil {
		return fmt.Errorf("--to %q: %w", image, err)
	}
	v.to = image
	return nil
}

// Renew keeps the target for the next round.
func (v *vaultUpgrade) Renew() scenarios.Scenario { return &vaultUpgrade{to: v.to} }

// Record: the fault record names the change, so that a failed recovery rolls back at
// once (the engine's rule for a recorded scenario) and `drill recover` rolls back an
// interrupted one. What the rollback needs is in the change record (changeRecordFile).
func (v *vaultUpgrade) Record() (kind, detail string, err error) {
	b, err := json.Marshal(map[string]string{"from": v.fromImage, "to": v.to})
	return VaultUpgradeName, string(b), err
}

// Where the pre-change backup lives, in the sandbox's state dir: the storage as a tar
// and the change record (what was running before, what it was changed to).
const (
	upgradeStorageFile = "vault-upgrade-storage.tar"
	changeRecordFile   = "vault-upgrade.json"
)

// changeRecord is what a rollback needs: the image and version before the change, the
// target, and when the backup was taken. Written once the backup is complete.
type changeRecord struct {
	FromImage   string    `json:"fromImage"`
	FromVersion string    `json:"fromVersion"`
	ToImage     string    `json:"toImage"`
	BackupAt    time.Time `json:"backupAt"`
}

func upgradeStoragePath(st *state.State) string {
	return filepath.Join(st.Dir(), backupDir, upgradeStorageFile)
}

func changeRecordPath(st *state.State) string {
	return filepath.Join(st.Dir(), backupDir, changeRecordFile)
}

func loadChangeRecord(st *state.State) (*changeRecord, error) {
	b, err := fsutil.ReadRegular(changeRecordPath(st), 1<<16)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r changeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("the record of the last vault-upgrade is corrupt: %w", err)
	}
	return &r, nil
}

// Milestones.
const (
	msEvidenceWritten = "evidence written"
	msChangeBackup    = "pre-change backup taken: Vault's storage copied with nothing writing to it"
	msLastGood        = "last good request before the change"
	msRecreated       = "Vault's container made again on the new image, same data volume"
	msRolled          = "Vault's release upgraded with the new image; its pod rolled, same claim"
	msSealedNew       = "the new Vault answers, sealed"
	msUnsealedNew     = "unsealed with the sandbox's key, same cluster_id"
	msFirstGood       = "first good request after the change"
)

// rollbackNote is what the report says of the way back.
const rollbackNote = "restore the pre-change backup onto the old image (`labsbx drill recover` after a failed upgrade): Vault does not support downgrades, so the older Vault is never started on storage the newer one has opened; whatever was written after the backup is lost"

// checkProfile refuses a profile whose Vault this drill cannot change.
func checkProfile(st *state.State) error {
	if st.Profile != config.ProfileVault && st.Profile != config.ProfileFull {
		return scenarios.Permanent(fmt.Errorf("vault-upgrade runs on the vault and full profiles; sandbox %q has the %s profile", st.Name, st.Profile))
	}
	return nil
}

func (v *vaultUpgrade) Steady(ctx context.Context, e *scenarios.Env) error {
	if err := checkProfile(e.State); err != nil {
		return err
	}
	if v.to == "" {
		return scenarios.Permanent(errors.New("vault-upgrade needs the image to upgrade to: labsbx drill run vault-upgrade --to IMAGE"))
	}
	v.fromImage = e.State.Spec.Vault.Image
	if v.fromImage == v.to {
		return scenarios.Permanent(fmt.Errorf("Vault already runs %s; give another image with --to", v.to))
	}
	if _, ok, err := e.Docker.ImageID(ctx, v.to); err != nil || !ok {
		return scenarios.Permanent(errors.Join(err, fmt.Errorf("image %s is not on this machine; build or load it first", v.to)))
	}
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	v.fromVersion = st.Version
	if err := e.Consumer.Works(ctx); err != nil {
		return err
	}
	ev, err := writeEvidence(ctx, e)
	if err != nil {
		return err
	}
	v.ev = ev
	e.Mark(msEvidenceWritten)
	return nil
}

func (v *vaultUpgrade) Inject(ctx context.Context, e *scenarios.Env) error {
	// The full profile's nodes get the image first: Vault serves meanwhile, so the
	// import is not part of the unavailability window.
	if _, err := e.Config().ImportVaultImage(ctx, e.State, v.to); err != nil {
		return fmt.Errorf("import %s into the cluster: %w", v.to, err)
	}
	if err := v.backup(ctx, e); err != nil {
		return fmt.Errorf("pre-change backup: %w", err)
	}
	// The last request Vault serves on the old version.
	if err := wait.Poll(ctx, wait.Options{Interval: 50 * time.Millisecond, Timeout: 30 * time.Second, TryTimeout: 5 * time.Second}, func(ctx context.Context) error {
		return v.ev.goodRequest(ctx, e)
	}); err != nil {
		return fmt.Errorf("Vault serves no request before the change: %w", err)
	}
	v.lastGood = e.Now()
	e.MarkAt(msLastGood, v.lastGood)
	if _, err := e.Config().ChangeVaultImage(ctx, e.State, v.to); err != nil {
		return err
	}
	if e.State.Profile == config.ProfileFull {
		e.Mark(msRolled)
	} else {
		e.Mark(msRecreated)
	}
	return nil
}

// backup takes the pre-change backup with nothing writing to Vault's storage, brings
// Vault back into service, and records the change. On the vault profile it is cold,
// as the lab backs up Vault (stopped, its data directory copied); on the full profile
// Vault is sealed (a sealed Vault neither reads nor writes its storage) while its pod
// archives the data directory.
func (v *vaultUpgrade) backup(ctx context.Context, e *scenarios.Env) error {
	if e.State.Profile == config.ProfileFull {
		if err := sealedBackup(ctx, e, upgradeStoragePath(e.State)); err != nil {
			return err
		}
	} else if err := coldBackup(ctx, e, upgradeStoragePath(e.State), ""); err != nil {
		return err
	}
	rec, err := json.Marshal(changeRecord{FromImage: v.fromImage, FromVersion: v.fromVersion, ToImage: v.to, BackupAt: e.Now()})
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(changeRecordPath(e.State), rec, 0o600); err != nil {
		return err
	}
	e.Mark(msChangeBackup)
	if e.State.Profile != config.ProfileFull {
		if _, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil); err != nil {
			return err
		}
	}
	return reopenUnsealed(ctx, e)
}

// sealedBackup seals the full profile's Vault and writes a tar of its storage, taken
// in its pod, to path (0600). The caller unseals it again.
func sealedBackup(ctx context.Context, e *scenarios.Env, path string) error {
	if err := e.Vault.Seal(ctx); err != nil {
		return fmt.Errorf("seal Vault for the backup: %w", err)
	}
	var buf bytes.Buffer
	if err := e.Config().ArchiveFullVaultStorage(ctx, e.State, &limitWriter{w: &buf, n: maxBackupSize}); err != nil {
		return fmt.Errorf("back up Vault's storage: %w", err)
	}
	return writeBackup(path, buf.Bytes())
}

// limitWriter fails once more than n bytes are written to it.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if len(b) > l.n {
		return 0, errBackupTooLarge()
	}
	l.n -= len(b)
	return l.w.Write(b)
}

// reopenUnsealed opens a new session to the sandbox's Vault (its container may be a
// new one), unseals it with the sandbox's key and checks its cluster_id.
func reopenUnsealed(ctx context.Context, e *scenarios.Env) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sess, err := wait.Retry(wctx, 100*time.Millisecond, func() (*connect.VaultSession, error) {
		return e.Conn().Vault(wctx)
	})
	if err != nil {
		return err
	}
	if _, err := wait.Retry(wctx, 100*time.Millisecond, func() (vault.Status, error) {
		return sess.Unseal(wctx)
	}); err != nil {
		return err
	}
	e.Vault = sess
	return nil
}

// Observe: the new Vault answers, sealed, and says which version it is.
func (v *vaultUpgrade) Observe(ctx context.Context, e *scenarios.Env) error {
	sess, err := e.Conn().Vault(ctx)
	if err != nil {
		return err
	}
	st, err := sess.Status(ctx)
	if err != nil {
		return err
	}
	e.Vault = sess
	if !st.Sealed {
		return errors.New("Vault answers unsealed: the change did not restart it")
	}
	v.toVersion = st.Version
	e.MarkOnce(msSealedNew + " (Vault " + st.Version + ")")
	return nil
}

// Recover unseals the new Vault with the sandbox's key, records its version, and
// waits for the first good request.
func (v *vaultUpgrade) Recover(ctx context.Context, e *scenarios.Env) error {
	if err := reopenUnsealed(ctx, e); err != nil {
		return err
	}
	e.Mark(msUnsealedNew)
	if err := v.recordVersion(ctx, e); err != nil {
		return err
	}
	return wait.Poll(ctx, wait.Options{Interval: 20 * time.Millisecond, Timeout: time.Minute, TryTimeout: 5 * time.Second}, func(ctx context.Context) error {
		return v.firstGoodRequest(ctx, e)
	})
}

// recordVersion keeps the running Vault's version in the sandbox state.
func (v *vaultUpgrade) recordVersion(ctx context.Context, e *scenarios.Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	v.toVersion = st.Version
	if e.State.Vault != nil && e.State.Vault.Version != st.Version {
		e.State.Vault.Version = st.Version
		return e.SaveState()
	}
	return nil
}

// firstGoodRequest marks the first request the new Vault serves (once).
func (v *vaultUpgrade) firstGoodRequest(ctx context.Context, e *scenarios.Env) error {
	if !v.firstGood.IsZero() {
		return nil
	}
	if err := v.ev.goodRequest(ctx, e); err != nil {
		return err
	}
	v.firstGood = e.Now()
	e.MarkAt(msFirstGood, v.firstGood)
	return nil
}

// Verify: the new Vault unsealed at the target, serving, and every piece of evidence
// back. Anything lost fails the drill (exit 4); the report lists what survived.
// The engine commits once the whole verify phase passed (scenarios.Committer): verify
// is polled, and a later try must still find the evidence.
func (v *vaultUpgrade) Verify(ctx context.Context, e *scenarios.Env) error {
	return v.VerifyChange(ctx, e)
}

// ChangeVerifier is a built-in change whose verify a drill file splits in two, so
// that its own probes run between: VerifyChange checks (and may run again), Commit
// makes the change stand once everything held.
type ChangeVerifier interface {
	VerifyChange(ctx context.Context, e *scenarios.Env) error
	Commit(ctx context.Context, e *scenarios.Env)
}

// VerifyChange checks the new Vault and every piece of evidence, changing nothing.
func (v *vaultUpgrade) VerifyChange(ctx context.Context, e *scenarios.Env) error {
	if err := sameVaultUnsealed(ctx, e); err != nil {
		return err
	}
	if err := v.firstGoodRequest(ctx, e); err != nil {
		return err
	}
	if v.toVersion == "" {
		if err := v.recordVersion(ctx, e); err != nil {
			return err
		}
	}
	v.evidence = v.ev.check(ctx, e)
	if lost := lostEvidence(v.evidence); len(lost) > 0 {
		return scenarios.Permanent(fmt.Errorf("lost in the upgrade from Vault %s to %s: %s; roll back with `labsbx drill recover --name %s` (restores the pre-change backup onto %s)",
			v.fromVersion, v.toVersion, strings.Join(lost, "; "), e.State.Name, v.fromImage))
	}
	return nil
}

// Commit: the change stands. The record goes, so that a later `drill recover` does
// not roll it back (the backup stays until the next upgrade replaces it), and what
// the evidence holds is revoked and removed.
func (v *vaultUpgrade) Commit(ctx context.Context, e *scenarios.Env) {
	_ = os.Remove(changeRecordPath(e.State))
	v.ev.cleanup(ctx, e)
}

// lostEvidence names what did not survive.
func lostEvidence(es []report.Evidence) []string {
	var out []string
	for _, ev := range es {
		if !ev.Survived {
			out = append(out, ev.Name+" ("+ev.Detail+")")
		}
	}
	return out
}

// ChangeResult is the report's account of the change (scenarios.ChangeReporter).
func (v *vaultUpgrade) ChangeResult() *report.Change {
	if v.fromImage == "" {
		return nil // refused before it began
	}
	c := &report.Change{Kind: VaultUpgradeName, FromImage: v.fromImage, ToImage: v.to, FromVersion: v.fromVersion, ToVersion: v.toVersion,
		LastGoodBefore: v.lastGood, FirstGoodAfter: v.firstGood, Evidence: v.evidence, Rollback: rollbackNote}
	c.UnavailableMs = unavailableMs(v.lastGood, v.firstGood)
	if c.Evidence == nil {
		c.Evidence = []report.Evidence{}
	}
	if v.rolledBack != "" {
		c.Rollback = "rolled back: " + v.rolledBack
	}
	return c
}

// unavailableMs is the window between the last good request before the change and
// the first after it; 0 when either is missing.
func unavailableMs(last, first time.Time) int64 {
	if last.IsZero() || first.IsZero() || first.Before(last) {
		return 0
	}
	return first.Sub(last).Milliseconds()
}

// undoPlan is what Undo does, from the change record and the running Vault.
type undoPlan int

const (
	// undoNothingChanged: no backup was recorded, so the change never began: Vault is
	// started and unsealed where it is.
	undoNothingChanged undoPlan = iota
	// undoNotApplied: the backup was taken but Vault still runs the old image.
	undoNotApplied
	// undoRestore: the change was applied (or half applied): the pre-change backup
	// is restored onto the old image.
	undoRestore
)

// planUndo decides from the change record, the image the state records and whether
// Vault's container exists (a rollback interrupted between removing it and restoring
// the backup leaves none, and the state already on the old image).
func planUndo(rec *changeRecord, image string, container bool) undoPlan {
	switch {
	case rec == nil:
		return undoNothingChanged
	case image == rec.FromImage && container:
		return undoNotApplied
	}
	return undoRestore
}

// Undo rolls an unfinished upgrade back: the pre-change backup is restored onto the
// old image, in a new volume and container, and unsealed with the sandbox's key.
func (v *vaultUpgrade) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	rec, err := loadChangeRecord(e.State)
	if err != nil {
		return "", err
	}
	container := true // the full profile's StatefulSet always makes its pod again
	if e.State.Profile != config.ProfileFull {
		if _, container, err = e.Docker.Inspect(ctx, connect.ComponentVault); err != nil {
			return "", err
		}
	}
	var did []string
	switch planUndo(rec, e.State.Spec.Vault.Image, container) {
	case undoNothingChanged:
		did = append(did, "no change was made (no pre-change backup recorded)")
	case undoNotApplied:
		if e.State.Profile == config.ProfileFull {
			// The release may still name the new image (a rollback stopped between
			// recording the old one and upgrading the release): converge on the state.
			if _, err := e.Config().ChangeVaultImage(ctx, e.State, rec.FromImage); err != nil {
				return "", err
			}
		}
		if v.rolledBack != "" {
			// An earlier try of this Undo restored the backup and got this far before
			// failing (recover polls Undo): say what it did.
			did = append(did, v.rolledBack)
		} else {
			did = append(did, "Vault still runs "+rec.FromImage)
		}
	case undoRestore:
		msg, err := rollbackUpgrade(ctx, e, rec)
		if err != nil {
			return "", err
		}
		v.rolledBack = msg
		did = append(did, msg)
	}
	if e.State.Profile != config.ProfileFull {
		started, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil)
		if err != nil {
			return "", err
		}
		did = append(did, started...)
	}
	if err := reopenUnsealed(ctx, e); err != nil {
		return "", err
	}
	if st, err := e.Vault.Status(ctx); err == nil && e.State.Vault != nil && e.State.Vault.Version != st.Version {
		e.State.Vault.Version = st.Version
		if err := e.SaveState(); err != nil {
			return "", err
		}
	}
	if rec != nil {
		if err := os.Remove(changeRecordPath(e.State)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	did = append(did, "Vault unsealed with the sandbox's key, same cluster_id")
	return strings.Join(did, "; "), nil
}

// rollbackUpgrade puts the pre-change backup back under the old image. On the vault
// profile the upgraded Vault (container and volume: its storage may be one the older
// Vault cannot read) is removed and the backup restored onto the old image in new
// ones. On the full profile the claim stays: with Vault sealed, the pod's data
// directory is replaced by the backup, then the release goes back to the old image
// and the pod rolls; the older Vault first unseals on the restored storage. Each
// step may run again after an interruption (the state records the old image only
// once the storage is back).
func rollbackUpgrade(ctx context.Context, e *scenarios.Env, rec *changeRecord) (string, error) {
	storage, err := fsutil.ReadRegular(upgradeStoragePath(e.State), maxBackupSize)
	if err != nil {
		return "", fmt.Errorf("read the pre-change backup of Vault's storage: %w", err)
	}
	if e.State.Profile == config.ProfileFull {
		if err := sealIfUnsealed(ctx, e); err != nil {
			return "", err
		}
		if err := e.Config().RestoreFullVaultStorage(ctx, e.State, bytes.NewReader(storage)); err != nil {
			return "", fmt.Errorf("restore the pre-change backup into Vault's pod: %w", err)
		}
		if _, err := e.Config().ChangeVaultImage(ctx, e.State, rec.FromImage); err != nil {
			return "", err
		}
	} else {
		if err := e.Docker.RemoveComponent(ctx, connect.ComponentVault); err != nil {
			return "", err
		}
		e.State.Spec.Vault.Image = rec.FromImage
		if err := e.SaveState(); err != nil {
			return "", err
		}
		if _, err := e.Config().RestoreVault(ctx, e.State, bytes.NewReader(storage)); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("restored the pre-change backup (taken %s) onto %s (Vault %s); Vault does not support downgrades, so the upgraded storage was discarded",
		rec.BackupAt.UTC().Format(time.RFC3339), rec.FromImage, rec.FromVersion), nil
}

// sealIfUnsealed seals the sandbox's Vault unless it already is (an upgraded Vault
// that was never unsealed, or one sealed by an interrupted rollback).
func sealIfUnsealed(ctx context.Context, e *scenarios.Env) error {
	sess, err := e.Conn().Vault(ctx)
	if err != nil {
		return err
	}
	e.Vault = sess
	if err := sess.Seal(ctx); err != nil {
		return fmt.Errorf("seal Vault before the restore: %w", err)
	}
	return nil
}

// Revive: `drill recover` opens the sandbox's Vault first, which cannot answer when an
// upgrade or its rollback was interrupted while Vault's container was gone. With a
// pre-change backup recorded, the backup is restored onto the old image at once (what
// Undo would do); without one the change never began, and the container is made again
// on the recorded image and its volume.
func (*vaultUpgrade) Revive(ctx context.Context, cfg *sandbox.Configuration, conn *connect.Conn) (func(context.Context) ([]string, error), error) {
	st := conn.State()
	if st.Profile != config.ProfileVault || len(st.Faults) == 0 {
		return nil, nil
	}
	// The built-in drill's fault, or a drill file's change (whose fault carries the
	// file's name): either left its change record.
	_, statErr := os.Stat(changeRecordPath(st))
	recorded := statErr == nil
	if !recorded && !slices.ContainsFunc(st.Faults, func(f state.Fault) bool { return f.Scenario == VaultUpgradeName }) {
		return nil, nil
	}
	rt, err := conn.Docker(ctx)
	if err != nil {
		return nil, err
	}
	info, ok, err := rt.Inspect(ctx, connect.ComponentVault)
	if err != nil {
		return nil, err
	}
	// A container the state recorded, with its configuration, is left to Undo; none,
	// one the state never recorded, or one without its configuration (killed while
	// being made) cannot answer.
	if ok && st.Vault != nil && info.ID == st.Vault.ContainerID && hasConfig(ctx, rt) {
		return nil, nil
	}
	rec, err := loadChangeRecord(st)
	if err != nil {
		return nil, err
	}
	var did string
	switch {
	case rec != nil:
		// The change began: whatever container there is (none, or one the state never
		// recorded, perhaps without its files) goes, with the volume the new Vault may
		// have opened, and the pre-change backup comes back onto the old image.
		storage, err := fsutil.ReadRegular(upgradeStoragePath(st), maxBackupSize)
		if err != nil {
			return nil, fmt.Errorf("read the pre-change backup of Vault's storage: %w", err)
		}
		if err := rt.RemoveComponent(ctx, connect.ComponentVault); err != nil {
			return nil, err
		}
		st.Spec.Vault.Image = rec.FromImage
		if err := cfg.Store.Save(st, cfg.Clock()); err != nil {
			return nil, err
		}
		if _, err := cfg.RestoreVault(ctx, st, bytes.NewReader(storage)); err != nil {
			return nil, err
		}
		did = "restored the pre-change backup onto " + rec.FromImage + " (an upgrade was interrupted while Vault's container was being replaced)"
	default:
		// No change began: a container the state does not know is made again, on the
		// same volume.
		if err := rt.RemoveContainer(ctx, connect.ComponentVault); err != nil {
			return nil, err
		}
		if _, err := cfg.ChangeVaultImage(ctx, st, st.Spec.Vault.Image); err != nil {
			return nil, err
		}
		did = "made Vault's container again on " + st.Spec.Vault.Image
	}
	said := false
	return func(context.Context) ([]string, error) {
		if said {
			return nil, nil
		}
		said = true
		return []string{did}, nil
	}, nil
}

// hasConfig: Vault's container holds its configuration file (copied in when the
// container is made, before it first starts).
func hasConfig(ctx context.Context, rt *docker.Runtime) bool {
	rc, err := rt.Archive(ctx, connect.ComponentVault, sandbox.VaultConfigFile)
	if err != nil {
		return false
	}
	_ = rc.Close()
	return true
}
