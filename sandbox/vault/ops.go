package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/internal/failpoint"
	"github.com/arcodange/labsbx/internal/redact"
	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// Status is the seal status as labsbx reports it.
type Status struct {
	Addr        string `json:"addr"`
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Version     string `json:"version"`
	ClusterID   string `json:"clusterID,omitempty"`
	ClusterName string `json:"clusterName,omitempty"`
}

// GetStatus reads sys/seal-status (no token needed).
func GetStatus(ctx context.Context, c *api.Client) (Status, error) {
	s, err := c.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("read seal status of %s: %w", c.Address(), err)
	}
	return Status{Addr: c.Address(), Initialized: s.Initialized, Sealed: s.Sealed, Version: s.Version,
		ClusterID: s.ClusterID, ClusterName: s.ClusterName}, nil
}

// Init initialises an approved, uninitialised Vault with 1 key share and threshold 1,
// and saves the key and root token before anything else can fail.
func Init(ctx context.Context, c *api.Client, kp guard.KeyPath) (*Keys, error) {
	resp, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return nil, fmt.Errorf("initialise Vault at %s: %w", c.Address(), err)
	}
	k := &Keys{UnsealKeysB64: resp.KeysB64, RootToken: resp.RootToken}
	failpoint.Hit("vault-initialised")
	if err := SaveKeys(kp, k); err != nil {
		return nil, fmt.Errorf("Vault was initialised but its key could not be saved: %w", err)
	}
	return k, nil
}

// Unseal submits the sandbox's key. It is a no-op on an unsealed Vault.
func Unseal(ctx context.Context, c *api.Client, k *Keys) (Status, error) {
	st, err := GetStatus(ctx, c)
	if err != nil || !st.Sealed {
		return st, err
	}
	for _, key := range k.UnsealKeysB64 {
		resp, err := c.Sys().UnsealWithContext(ctx, key)
		if err != nil {
			return st, fmt.Errorf("unseal Vault at %s: %w", c.Address(), scrub(err, k))
		}
		if !resp.Sealed {
			break
		}
	}
	if err := WaitActive(ctx, c); err != nil {
		return st, err
	}
	return GetStatus(ctx, c)
}

// WaitActive polls sys/health until Vault is unsealed and active: right after an
// unseal it spends a moment in standby, answering 503 to everything else.
func WaitActive(ctx context.Context, c *api.Client) error {
	err := wait.Poll(ctx, wait.Options{}, func(ctx context.Context) error {
		h, err := c.Sys().HealthWithContext(ctx)
		switch {
		case err != nil:
			return err
		case !h.Initialized || h.Sealed || h.Standby:
			return errors.New("not active yet")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("Vault at %s did not become active: %w", c.Address(), err)
	}
	return nil
}

// Seal seals Vault. It needs the root token on the client.
func Seal(ctx context.Context, c *api.Client) error {
	st, err := GetStatus(ctx, c)
	if err != nil || st.Sealed {
		return err
	}
	if err := c.Sys().SealWithContext(ctx); err != nil {
		return fmt.Errorf("seal Vault at %s: %w", c.Address(), err)
	}
	return nil
}

// IsSealedErr reports whether an API error says Vault is sealed.
func IsSealedErr(err error) bool {
	if err == nil {
		return false
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == 503 {
		return true
	}
	return strings.Contains(err.Error(), "Vault is sealed")
}

// scrub keeps key material out of an error from the API.
func scrub(err error, k *Keys) error {
	msg := err.Error()
	for _, s := range append([]string{k.RootToken}, k.UnsealKeysB64...) {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// redactErr keeps a secret out of an error message.
func redactErr(err error, secret string) error { return redact.Err(err, secret) }
