package sandbox

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// OpenVault asks the guard for the sandbox's Vault (see connect.VaultSession). It
// does not take the sandbox lock: seal and unseal must work while a drill waits for a
// person to recover.
func (c *Configuration) OpenVault(ctx context.Context, name string) (*connect.VaultSession, error) {
	st, err := c.Store.Load(name)
	if err != nil {
		return nil, err
	}
	return connect.New(st, c.Getenv).Vault(ctx)
}

// VaultDo is what a VaultOp does before it reads the seal status.
type VaultDo string

const (
	VaultStatus VaultDo = "status" // nothing
	VaultSeal   VaultDo = "seal"
	VaultUnseal VaultDo = "unseal" // with the sandbox's own key, then the cluster_id is verified
)

// VaultOp operates the sandbox's Vault and reports its seal status (`labsbx vault
// status|seal|unseal`). It does not take the sandbox lock: seal and unseal must work
// while a drill waits for a person to recover.
type VaultOp struct {
	cfg  *Configuration
	Name string
	Do   VaultDo
}

// NewVaultOp prepares a Vault operation.
func NewVaultOp(cfg *Configuration, do VaultDo) *VaultOp { return &VaultOp{cfg: cfg, Do: do} }

// Run does it.
func (o *VaultOp) Run(ctx context.Context) (vault.Status, error) {
	s, err := o.cfg.OpenVault(ctx, o.Name)
	if err != nil {
		return vault.Status{}, err
	}
	var do func() error
	switch o.Do {
	case VaultSeal:
		do = func() error { return s.Seal(ctx) }
	case VaultUnseal:
		do = func() error { _, err := s.Unseal(ctx); return err }
	}
	if do != nil {
		verb := strings.ToUpper(string(o.Do[:1])) + string(o.Do[1:])
		if err := o.cfg.progress().Step(verb+"ing Vault at "+s.Client.Address(), do); err != nil {
			return vault.Status{}, err
		}
	}
	return s.Status(ctx)
}

// VaultBootstrap converges the sandbox's Vault layout (`labsbx vault bootstrap`); it
// takes the sandbox lock.
type VaultBootstrap struct {
	cfg  *Configuration
	Name string
}

// NewVaultBootstrap prepares a bootstrap.
func NewVaultBootstrap(cfg *Configuration) *VaultBootstrap { return &VaultBootstrap{cfg: cfg} }

// BootstrapResult is what a bootstrap changed.
type BootstrapResult struct {
	Changes []vault.Change `json:"changes"`
}

// Run converges the layout.
func (b *VaultBootstrap) Run(ctx context.Context) (*BootstrapResult, error) {
	lock, err := b.cfg.Store.Lock(b.Name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	s, err := b.cfg.OpenVault(ctx, b.Name)
	if err != nil {
		return nil, err
	}
	sec, err := s.State.PostgresSecrets()
	if err != nil {
		return nil, err
	}
	layout, err := bringup.VaultLayout(s.State, sec, nil)
	if err != nil {
		return nil, err
	}
	changes, err := vault.Bootstrap(ctx, s.Root(), layout)
	if changes == nil {
		changes = []vault.Change{}
	}
	return &BootstrapResult{Changes: changes}, err
}

// VaultInit initialises the sandbox's Vault if labsbx has not done so yet (`labsbx
// vault init`): what up does in its init step, for a person who stopped before it.
type VaultInit struct {
	cfg  *Configuration
	Name string
}

// NewVaultInit prepares an init.
func NewVaultInit(cfg *Configuration) *VaultInit { return &VaultInit{cfg: cfg} }

// VaultInitResult is the seal status after init, and whether this run initialised it.
type VaultInitResult struct {
	vault.Status
	Initialised bool `json:"initialisedNow"`
}

// Run initialises it, or says it was already.
func (v *VaultInit) Run(ctx context.Context) (*VaultInitResult, error) {
	c := v.cfg
	lock, err := c.Store.Lock(v.Name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, err := c.Store.Load(v.Name)
	if err != nil {
		return nil, err
	}
	if st.Vault == nil || st.Vault.Addr == "" {
		return nil, fmt.Errorf("sandbox %q has no Vault yet; run `labsbx up --name %s`", v.Name, v.Name)
	}
	conn := connect.New(st, c.Getenv)
	defer conn.Close()
	res := &VaultInitResult{}
	if st.Vault.ClusterID == "" {
		changed, err := bringup.EnsureInitialised(ctx, c.bringup(), conn)
		if err != nil {
			return nil, err
		}
		res.Initialised = changed != ""
	}
	s, err := conn.Vault(ctx)
	if err != nil {
		return nil, err
	}
	res.Status, err = s.Status(ctx)
	return res, err
}

// VaultDataDir is where the vault profile's Vault keeps its storage (a volume).
const VaultDataDir = bringup.VaultDataDir

// VaultConfigFile is the vault profile's Vault configuration in its container.
const VaultConfigFile = bringup.VaultConfigFile

// RestoreVault recreates the vault profile's Vault container and volume with storage
// (a tar of its data dir) put back before Vault starts, for the backup-restore drill.
// It does not unseal. The caller holds the sandbox lock and passes the state it holds.
func (c *Configuration) RestoreVault(ctx context.Context, st *state.State, storage io.Reader) ([]string, error) {
	return bringup.RestoreVault(ctx, c.bringup(), st, storage)
}

// ChangeVaultImage puts the sandbox's Vault on image: the state records it, and the
// container is made again on the same data volume (vault profile) or the Vault release
// is upgraded and its pod rolled on the same claim (full profile). The new Vault
// starts sealed. The caller holds the sandbox lock and passes the state it holds.
func (c *Configuration) ChangeVaultImage(ctx context.Context, st *state.State, image string) ([]string, error) {
	return bringup.ChangeVaultImage(ctx, c.bringup(), st, image)
}

// ImportVaultImage copies image into the full profile's nodes ahead of a change to
// it; nothing on the vault profile. The caller holds the sandbox lock.
func (c *Configuration) ImportVaultImage(ctx context.Context, st *state.State, image string) ([]string, error) {
	return bringup.ImportVaultImage(ctx, c.bringup(), st, image)
}

// ArchiveFullVaultStorage writes a tar of the full profile's Vault storage, from its
// pod, to w. The caller seals Vault first.
func (c *Configuration) ArchiveFullVaultStorage(ctx context.Context, st *state.State, w io.Writer) error {
	return bringup.ArchiveFullVaultStorage(ctx, c.bringup(), st, w)
}

// RestoreFullVaultStorage replaces the full profile's Vault storage with the tar
// storage, in its pod. The caller seals Vault first.
func (c *Configuration) RestoreFullVaultStorage(ctx context.Context, st *state.State, storage io.Reader) error {
	return bringup.RestoreFullVaultStorage(ctx, c.bringup(), st, storage)
}
