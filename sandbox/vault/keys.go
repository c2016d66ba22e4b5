// Package vault initialises, unseals, seals and bootstraps the sandbox Vault. Every
// client it uses comes from a guard approval; the unseal key and root token are read
// and written only through a guard-approved key path.
package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// KeysFile is the name of the file, in the sandbox's secrets dir, that holds the unseal
// key and root token.
const KeysFile = "vault-keys.json"

// Keys is what `vault operator init` returned: 1 share, threshold 1.
type Keys struct {
	UnsealKeysB64 []string `json:"unseal_keys_b64"`
	RootToken     string   `json:"root_token"`
}

// String keeps the secrets out of any %v or %s.
func (k Keys) String() string   { return "vault.Keys{[redacted]}" }
func (k Keys) GoString() string { return k.String() }

// ErrNoKeys means the sandbox has no key file: its Vault was never initialised by labsbx.
var ErrNoKeys = errors.New("no unseal key in the sandbox state")

// LoadKeys reads the key file.
func LoadKeys(kp guard.KeyPath) (*Keys, error) {
	b, err := kp.ReadFile()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoKeys, kp.Path())
	}
	if err != nil {
		return nil, err
	}
	var k Keys
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("key file %s is corrupt", kp.Path())
	}
	if len(k.UnsealKeysB64) == 0 || k.RootToken == "" {
		return nil, fmt.Errorf("key file %s holds no unseal key or root token", kp.Path())
	}
	return &k, nil
}

// SaveKeys writes the key file atomically, mode 0600.
func SaveKeys(kp guard.KeyPath, k *Keys) error {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	return kp.WriteFile(append(b, '\n'))
}
