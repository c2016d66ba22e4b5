package builtin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/arcodange/labsbx/scenarios"
)

// wrongKey: Vault is sealed, and the first unseal is tried with a stale key file, as
// after a re-initialisation whose new cluster-keys.json never replaced the old one.
// Vault must refuse that key, stay sealed with no unseal in progress, and lose
// nothing: the right key then unseals the same Vault (same cluster_id), with the same
// secrets.
//
// The stale key is 32 random bytes, base64 like unseal_keys_b64: with one share and a
// threshold of one, the unseal key is the whole root key, so another
// initialisation's key is, to this Vault, just another 32-byte key.
type wrongKey struct {
	// before is a digest of the app's kvv2 config in the steady state.
	before string
	stale  string
}

func NewWrongKey() scenarios.Scenario { return &wrongKey{} }

func (*wrongKey) Name() string { return "wrong-key" }

func (*wrongKey) Description() string {
	return "Vault is sealed and a stale key file (another initialisation's key) is used: Vault refuses it and stays sealed, and the right key brings back the same Vault with nothing lost"
}

func (*wrongKey) Runbook(e *scenarios.Env) string {
	return "labsbx vault unseal --name " + e.State.Name
}

// Milestones of the drill.
const (
	msStaleRefused = "the stale key is refused; Vault stays sealed with no unseal in progress"
	msRightKey     = "unsealed with the right key"
)

func (w *wrongKey) Steady(ctx context.Context, e *scenarios.Env) error {
	if err := e.Consumer.Works(ctx); err != nil {
		return err
	}
	d, err := kvDigest(ctx, e, e.Consumer.App)
	if err != nil {
		return err
	}
	w.before = d
	return nil
}

// kvDigest is a digest of every version of kvv2/<app>/config, so that a comparison
// says whether anything changed without holding the secrets.
func kvDigest(ctx context.Context, e *scenarios.Env, app string) (string, error) {
	kv := e.Vault.Root().KVv2("kvv2")
	vs, err := kv.GetVersionsAsList(ctx, app+"/config")
	if err != nil {
		return "", fmt.Errorf("list the versions of kvv2/%s/config: %w", app, err)
	}
	h := sha256.New()
	for _, v := range vs {
		if v.Destroyed || !v.DeletionTime.IsZero() {
			fmt.Fprintf(h, "%d:gone\n", v.Version)
			continue
		}
		s, err := kv.GetVersion(ctx, app+"/config", v.Version)
		if err != nil {
			return "", fmt.Errorf("read kvv2/%s/config version %d: %w", app, v.Version, err)
		}
		b, _ := json.Marshal(s.Data)
		fmt.Fprintf(h, "%d:%x\n", v.Version, sha256.Sum256(b))
	}
	return fmt.Sprintf("%d versions, %x", len(vs), h.Sum(nil)[:8]), nil
}

func (w *wrongKey) Inject(ctx context.Context, e *scenarios.Env) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	w.stale = base64.StdEncoding.EncodeToString(b)
	e.AddSecret(w.stale)
	return e.Vault.Seal(ctx)
}

// Observe presents the stale key, once the seal shows: Vault must refuse it, and
// stay sealed with no unseal in progress.
func (w *wrongKey) Observe(ctx context.Context, e *scenarios.Env) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Sealed {
		return errors.New("Vault is not sealed")
	}
	if !e.MilestoneAt(msStaleRefused).IsZero() {
		return nil
	}
	resp, err := e.Vault.Client.Sys().UnsealWithContext(ctx, w.stale)
	if err == nil && resp != nil && !resp.Sealed {
		return scenarios.Permanent(errors.New("Vault unsealed with a key from another initialisation"))
	}
	if err == nil {
		return scenarios.Permanent(errors.New("Vault took the stale key without an error"))
	}
	after, serr := e.Vault.Client.Sys().SealStatusWithContext(ctx)
	if serr != nil {
		return serr
	}
	if !after.Sealed {
		return scenarios.Permanent(errors.New("Vault is unsealed after the stale key"))
	}
	if after.Progress != 0 {
		return scenarios.Permanent(fmt.Errorf("Vault kept the stale key as unseal progress %d", after.Progress))
	}
	e.MarkOnce(msStaleRefused)
	return nil
}

func (w *wrongKey) Recover(ctx context.Context, e *scenarios.Env) error {
	if _, err := e.Vault.Unseal(ctx); err != nil {
		return err
	}
	e.MarkOnce(msRightKey)
	return nil
}

func (w *wrongKey) Verify(ctx context.Context, e *scenarios.Env) error {
	if err := sameVaultUnsealed(ctx, e); err != nil {
		return err
	}
	d, err := kvDigest(ctx, e, e.Consumer.App)
	if err != nil {
		return err
	}
	if w.before != "" && d != w.before {
		return scenarios.Permanent(fmt.Errorf("kvv2/%s/config changed: %s before, %s after", e.Consumer.App, w.before, d))
	}
	if err := e.Consumer.Login(ctx); err != nil {
		return err
	}
	return e.Consumer.Works(ctx)
}

func (*wrongKey) Undo(ctx context.Context, e *scenarios.Env) (string, error) {
	return seal{}.Undo(ctx, e)
}
