package sandbox

import (
	"context"
	"fmt"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
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

// Bootstrap converges the sandbox's Vault layout; it takes the sandbox lock.
func (c *Configuration) Bootstrap(ctx context.Context, name string) ([]vault.Change, error) {
	lock, err := c.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	s, err := c.OpenVault(ctx, name)
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
	return vault.Bootstrap(ctx, s.Root(), layout)
}

// InitVault initialises the sandbox's Vault if labsbx has not done so yet. It is what
// `up` does in its init step, for a person who stopped before it.
func (c *Configuration) InitVault(ctx context.Context, name string) (vault.Status, bool, error) {
	lock, err := c.Store.Lock(name)
	if err != nil {
		return vault.Status{}, false, err
	}
	defer lock.Unlock()
	st, err := c.Store.Load(name)
	if err != nil {
		return vault.Status{}, false, err
	}
	if st.Vault == nil || st.Vault.Addr == "" {
		return vault.Status{}, false, fmt.Errorf("sandbox %q has no Vault yet; run `labsbx up --name %s`", name, name)
	}
	if st.Vault.ClusterID != "" {
		s, err := connect.New(st, c.Getenv).Vault(ctx)
		if err != nil {
			return vault.Status{}, false, err
		}
		vs, err := s.Status(ctx)
		return vs, false, err
	}
	conn := connect.New(st, c.Getenv)
	defer conn.Close()
	changed, err := bringup.EnsureInitialised(ctx, c.bringup(), conn)
	if err != nil {
		return vault.Status{}, false, err
	}
	s, err := conn.Vault(ctx)
	if err != nil {
		return vault.Status{}, changed != "", err
	}
	vs, err := s.Status(ctx)
	return vs, changed != "", err
}
