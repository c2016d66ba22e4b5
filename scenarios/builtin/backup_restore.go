package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/failpoint"
	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios"
)

// backupRestore: the lab's disaster recovery. Vault's storage and its key are backed
// up as the lab does it (Vault stopped, its data directory copied, the key file
// copied beside it), Vault is brought back into service, and then its data volume is
// destroyed. Recovery restores the storage from the backup into a new volume and
// container, and unseals with the backed-up key; verify requires every version of
// every kvv2/<app>/config, a credential from postgres/creds/<app> for every app, and
// the same cluster_id (the guard checks it against the record). Time to recover is
// the RTO; the RPO, the backup's age when the data was destroyed, is a milestone.
//
// The vault profile only: there Vault's storage is a Docker volume labsbx owns. On
// the full profile it is the Vault pod's volume, which this drill does not reach.
type backupRestore struct {
	before   map[string]string // app -> digest of its kvv2 config versions
	backupAt time.Time
}

func NewBackupRestore() scenarios.Scenario { return &backupRestore{} }

func (*backupRestore) Name() string { return "backup-restore" }

func (*backupRestore) Description() string {
	return "Vault's storage and key are backed up, then its data volume is destroyed: Vault is restored from the backup and unsealed with the backed-up key; every kvv2/<app>/config version, postgres/creds/<app> and the cluster_id come back (RTO; the RPO is the backup's age)"
}

func (*backupRestore) Runbook(e *scenarios.Env) string {
	return "labsbx drill recover --name " + e.State.Name + "  # restores the storage from the backup and unseals with the backed-up key"
}

// Where the backup lives, in the sandbox's state dir: the storage as a tar, and the
// key file in the secrets dir.
const (
	backupDir         = "backups"
	backupStorageFile = "vault-storage.tar"
	backupKeysFile    = "backup-vault-keys.json"
	// maxBackupSize bounds the read of the storage backup.
	maxBackupSize = 256 << 20
)

// Milestones.
const (
	msBackupTaken   = "backup taken: Vault's storage and key copied"
	msBackInService = "Vault back in service after the backup"
	msDataDestroyed = "Vault's container and data volume destroyed"
	msRestored      = "storage restored into a new volume and container"
	msUnsealedBkp   = "unsealed with the backed-up key, same cluster_id"
)

func backupStoragePath(st *state.State) string {
	return filepath.Join(st.Dir(), backupDir, backupStorageFile)
}

func (b *backupRestore) Steady(ctx context.Context, e *scenarios.Env) error {
	if e.State.Profile != config.ProfileVault {
		return scenarios.Permanent(fmt.Errorf("backup-restore runs on the vault profile (Vault's storage is a Docker volume there); sandbox %q has the %s profile", e.State.Name, e.State.Profile))
	}
	if err := e.Consumer.Works(ctx); err != nil {
		return err
	}
	b.before = map[string]string{}
	for _, app := range e.State.Spec.Apps {
		d, err := kvDigest(ctx, e, app)
		if err != nil {
			return err
		}
		b.before[app] = d
	}
	return nil
}

func (b *backupRestore) Inject(ctx context.Context, e *scenarios.Env) error {
	// The backup, cold: Vault stopped, its data directory copied, the key beside it.
	if err := coldBackup(ctx, e, backupStoragePath(e.State), "backup-vault-stopped"); err != nil {
		return err
	}
	kp, err := e.State.SecretPath(backupKeysFile)
	if err != nil {
		return err
	}
	if err := vault.SaveKeys(kp, e.Vault.Keys); err != nil {
		return err
	}
	b.backupAt = e.Now()
	e.Mark(msBackupTaken)
	failpoint.Hit("backup-taken")

	// Back into service, as after a nightly backup...
	if _, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil); err != nil {
		return err
	}
	if err := b.unseal(ctx, e, e.Vault.Keys); err != nil {
		return err
	}
	e.Mark(msBackInService)

	// ...until the disk is lost: the container and its data volume go.
	if err := e.Docker.RemoveComponent(ctx, connect.ComponentVault); err != nil {
		return err
	}
	failpoint.Hit("backup-data-destroyed")
	e.Mark(msDataDestroyed)
	e.Mark(fmt.Sprintf("RPO: the backup was %s old when the data was destroyed", e.Now().Sub(b.backupAt).Round(time.Millisecond)))
	return nil
}

// unseal waits for Vault to answer, unseals it with keys and checks its cluster_id
// against the record (a Vault that opens with another cluster_id is refused).
func (b *backupRestore) unseal(ctx context.Context, e *scenarios.Env, keys *vault.Keys) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sess, err := wait.Retry(wctx, 100*time.Millisecond, func() (*connect.VaultSession, error) {
		return e.Conn().Vault(wctx)
	})
	if err != nil {
		return err
	}
	if _, err := wait.Retry(wctx, 100*time.Millisecond, func() (vault.Status, error) {
		return vault.Unseal(wctx, sess.Client, keys)
	}); err != nil {
		return err
	}
	if err := sess.Approval.VerifyClusterID(ctx); err != nil {
		return err
	}
	e.Vault = sess
	return nil
}

func (b *backupRestore) Observe(ctx context.Context, e *scenarios.Env) error {
	if _, ok, err := e.Docker.Inspect(ctx, connect.ComponentVault); err != nil || ok {
		return errors.Join(err, errors.New("Vault's container is still there"))
	}
	if _, err := e.Vault.Status(ctx); err == nil {
		return errors.New("Vault still answers")
	}
	return expectGone("issuing credentials", e.Consumer.Fetch(ctx))
}

// expectGone: with Vault gone, the request fails (whatever the error).
func expectGone(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%s still works", what)
	}
	return nil
}

func (b *backupRestore) Recover(ctx context.Context, e *scenarios.Env) error {
	if err := restoreFromBackup(ctx, e.Config(), e.State); err != nil {
		return err
	}
	e.Mark(msRestored)
	keys, err := backupKeys(e.State)
	if err != nil {
		return err
	}
	if _, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil); err != nil {
		return err
	}
	if err := b.unseal(ctx, e, keys); err != nil {
		return err
	}
	e.Mark(msUnsealedBkp)
	return nil
}

// restoreFromBackup recreates Vault's container and volume from the storage backup.
// While it runs, the fault says so (restoring): a restore killed half-way leaves a
// Vault container that may hold no storage, or not all of it, and reviveVault then
// restores again.
func restoreFromBackup(ctx context.Context, cfg *sandbox.Configuration, st *state.State) error {
	storage, err := readBackup(st)
	if err != nil {
		return err
	}
	return restoreStorage(ctx, cfg, st, storage)
}

func readBackup(st *state.State) ([]byte, error) {
	storage, err := fsutil.ReadRegular(backupStoragePath(st), maxBackupSize)
	if err != nil {
		return nil, fmt.Errorf("read the backup of Vault's storage: %w", err)
	}
	return storage, nil
}

func restoreStorage(ctx context.Context, cfg *sandbox.Configuration, st *state.State, storage []byte) error {
	if err := markRestoring(cfg, st, true); err != nil {
		return err
	}
	if _, err := cfg.RestoreVault(ctx, st, bytes.NewReader(storage)); err != nil {
		return err
	}
	return markRestoring(cfg, st, false)
}

// detailRestoring is the backup-restore fault's detail from the start of a restore
// until the restored container is recorded.
const detailRestoring = "restoring"

// markRestoring records in the state (the fault's detail) that a restore has begun
// (on) or was recorded (off).
func markRestoring(cfg *sandbox.Configuration, st *state.State, on bool) error {
	detail := ""
	if on {
		detail = detailRestoring
	}
	for i, f := range st.Faults {
		if f.Scenario == (*backupRestore)(nil).Name() && f.Detail != detail {
			st.Faults[i].Detail = detail
			return cfg.Store.Save(st, cfg.Clock())
		}
	}
	return nil
}

// restoring: a restore began and was never recorded as done.
func restoring(st *state.State) bool {
	return slices.ContainsFunc(st.Faults, func(f state.Fault) bool {
		return f.Scenario == (*backupRestore)(nil).Name() && f.Detail == detailRestoring
	})
}

func backupKeys(st *state.State) (*vault.Keys, error) {
	kp, err := st.SecretPath(backupKeysFile)
	if err != nil {
		return nil, err
	}
	return vault.LoadKeys(kp)
}

func (b *backupRestore) Verify(ctx context.Context, e *scenarios.Env) error {
	if err := sameVaultUnsealed(ctx, e); err != nil {
		return err
	}
	for _, app := range e.State.Spec.Apps {
		d, err := kvDigest(ctx, e, app)
		if err != nil {
			return err
		}
		if want, ok := b.before[app]; ok && d != want {
			return scenarios.Permanent(fmt.Errorf("kvv2/%s/config did not come back as it was: %s before, %s after", app, want, d))
		}
		c := e.NewConsumer(app)
		if err := c.Works(ctx); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
	}
	if err := e.Consumer.Login(ctx); err != nil {
		return err
	}
	return e.Consumer.Works(ctx)
}

// Undo brings Vault back whatever step the drill was interrupted at: restored from the
// backup when its container is gone or is not the recorded one (reviveVault), started
// when stopped, unsealed with the sandbox's key (the backup's, which is the same) when
// sealed. The backup stays for the next run to replace.
func (b *backupRestore) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	var did []string
	if msg, err := reviveVault(ctx, e.Config(), e.State, e.Docker); err != nil {
		return "", err
	} else if msg != "" {
		did = append(did, msg)
	}
	started, err := StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil)
	if err != nil {
		return "", err
	}
	did = append(did, started...)
	if err := b.unseal(ctx, e, e.Vault.Keys); err != nil {
		return "", err
	}
	did = append(did, "Vault unsealed with the sandbox's key, same cluster_id")
	return strings.Join(did, "; "), nil
}

// reviveVault puts Vault's container back from the backup when an interrupted drill
// left none that labsbx can use, and says what it did ("": nothing):
//   - none: the drill destroyed it (after the backup was taken), or a restore was
//     killed before it created the new one;
//   - one that a restore began and never recorded as done (restoring): killed before
//     its storage was copied into the new volume, or before the state recorded the
//     new container, which the guard then rightly refuses to send the key to;
//   - one that is not the container the state records, however it came there.
//
// That container and its volume go (each only with this sandbox's UUID) and the
// restore runs again. The backup is read before anything is removed; without it
// nothing is. The recorded container of a finished restore, or of no restore at all,
// is left alone, running or stopped.
func reviveVault(ctx context.Context, cfg *sandbox.Configuration, st *state.State, rt *docker.Runtime) (string, error) {
	info, ok, err := rt.Inspect(ctx, connect.ComponentVault)
	if err != nil {
		return "", err
	}
	if !mustRestore(st, info.ID, ok) {
		return "", nil
	}
	storage, err := readBackup(st)
	if err != nil {
		return "", fmt.Errorf("%w; nothing was removed", err)
	}
	did := "restored Vault's storage from the backup into a new volume and container"
	if ok {
		if err := markRestoring(cfg, st, true); err != nil {
			return "", err
		}
		if err := rt.RemoveComponent(ctx, connect.ComponentVault); err != nil {
			return "", err
		}
		did = fmt.Sprintf("removed container %s (%.12s), which an interrupted restore left unfinished, with its volume; ", rt.ObjectName(connect.ComponentVault), info.ID) + did
	}
	if err := restoreStorage(ctx, cfg, st, storage); err != nil {
		return "", err
	}
	return did, nil
}

// mustRestore: Vault's container (id, when it exists) cannot be used as it is after an
// interrupted backup-restore (reviveVault).
func mustRestore(st *state.State, id string, exists bool) bool {
	recorded := st.Vault == nil || st.Vault.ContainerID == "" || id == st.Vault.ContainerID
	return !exists || !recorded || restoring(st)
}

// Revive: `drill recover` opens the sandbox's Vault first, which cannot answer when an
// interrupted backup-restore destroyed it, and which the guard refuses when a restore
// was interrupted before it recorded the new container: Vault is put back from the
// backup at once (reviveVault).
func (*backupRestore) Revive(ctx context.Context, cfg *sandbox.Configuration, conn *connect.Conn) (func(context.Context) ([]string, error), error) {
	st := conn.State()
	if !slices.ContainsFunc(st.Faults, func(f state.Fault) bool { return f.Scenario == "backup-restore" }) {
		return nil, nil
	}
	rt, err := conn.Docker(ctx)
	if err != nil {
		return nil, err
	}
	did, err := reviveVault(ctx, cfg, st, rt)
	if err != nil || did == "" {
		return nil, err
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

// coldBackup stops Vault and keeps a copy of its storage at path (in the state dir,
// 0600), as the lab backs Vault up; stopped, when not "", is the failpoint hit once
// Vault is down. Vault stays stopped: the caller brings it back.
func coldBackup(ctx context.Context, e *scenarios.Env, path, stopped string) error {
	if err := e.Docker.Stop(ctx, connect.ComponentVault, 10*time.Second); err != nil {
		return err
	}
	if stopped != "" {
		failpoint.Hit(stopped)
	}
	rc, err := e.Docker.Archive(ctx, connect.ComponentVault, sandbox.VaultDataDir)
	if err != nil {
		return err
	}
	storage, err := io.ReadAll(io.LimitReader(rc, maxBackupSize+1))
	_ = rc.Close()
	if err != nil {
		return fmt.Errorf("back up Vault's storage: %w", err)
	}
	return writeBackup(path, storage)
}

// writeBackup keeps a copy of Vault's storage at path (in the state dir, 0600).
func writeBackup(path string, storage []byte) error {
	if len(storage) > maxBackupSize {
		return errBackupTooLarge()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, storage, 0o600)
}

// errBackupTooLarge: this drill keeps Vault's storage in memory, up to maxBackupSize.
func errBackupTooLarge() error {
	return scenarios.Permanent(fmt.Errorf("Vault's storage is larger than %d MiB: too large for this drill", maxBackupSize>>20))
}
