package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// What down does about objects of its name that carry another UUID: it finds their
// owner among the state roots labsbx knows (state.KnownRoots) and names it, never
// offering to delete a live sandbox of another root; `--uuid` removes only objects
// whose owner cannot be found (guard.ApproveLostUUID) unless --force; and a state
// dir stays while its unseal key may be the only one of a Vault data volume down left
// alone (guard.KeepKeyError).

// knownRoots are the state roots labsbx knows of, this one first.
func (d *Down) knownRoots() []string {
	roots, err := state.KnownRoots(d.cfg.getenv(), d.cfg.Store.Root)
	if err != nil {
		d.cfg.progress().Infof("warning: %v", err)
	}
	return roots
}

func (c *Configuration) getenv() func(string) string {
	if c.Getenv == nil {
		return func(string) string { return "" }
	}
	return c.Getenv
}

// checkLostUUID is down --uuid's check, before anything is removed, when no readable
// state of this root vouches for the UUID.
func (d *Down) checkLostUUID(ctx context.Context, appr guard.DockerApproval, readable bool) error {
	if d.DownOptions.UUID == "" || readable || d.DownOptions.Force {
		return nil
	}
	roots := d.knownRoots()
	l := guard.LostUUID{Name: d.DownOptions.Name, UUID: d.DownOptions.UUID}
	if p, ok := state.FindOwner(roots, l.Name, l.UUID); ok {
		l.OwnerRoot = p.Root
	}
	l.VaultClusterID = vaultClusterID(ctx, appr, l.Name, l.UUID)
	if p, ok := state.FindClusterID(roots, l.Name, l.VaultClusterID); ok {
		l.ClusterIDRoot = p.Root
	}
	return guard.ApproveLostUUID(l)
}

// explainLeftAlone names, for each other UUID among what down left alone, the state
// root that owns it and the command to run there; or says that no known root does.
func (d *Down) explainLeftAlone(ctx context.Context, rt *docker.Runtime) {
	others, err := rt.OtherOwned(ctx)
	if err != nil || len(others) == 0 {
		return
	}
	roots := d.knownRoots()
	name := d.DownOptions.Name
	for _, u := range sortedKeys(others) {
		if p, ok := state.FindOwner(roots, name, u); ok {
			d.cfg.progress().Infof("%s belong to sandbox %q of state root %s; to remove them, run `%s`", strings.Join(others[u], ", "), name, p.Root, guard.DownHint(p.Root, name))
			continue
		}
		d.cfg.progress().Infof("%s carry UUID %s, which no state in the state roots labsbx knows records (%s)", strings.Join(others[u], ", "), u, strings.Join(roots, ", "))
	}
}

// keepKeyedState returns why the state dir of st must stay (guard.KeepKeyError): its
// unseal key exists and a Vault data volume of the name was left alone whose owner
// is not another known state.
func (d *Down) keepKeyedState(ctx context.Context, appr guard.DockerApproval, rt *docker.Runtime, st *state.State) error {
	if st == nil || d.DownOptions.Force {
		return nil
	}
	fi, err := os.Lstat(filepath.Join(st.Dir(), "secrets", "vault-keys.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // no key: nothing of it to keep
	case err != nil:
		return fmt.Errorf("the state's unseal key file: %w; the state is kept", err)
	case !fi.Mode().IsRegular():
		return nil
	}
	others, err := rt.OtherOwned(ctx)
	if err != nil {
		return fmt.Errorf("keeping the state dir: listing what was left alone: %w", err)
	}
	vol := "volume " + docker.ObjectName(st.Name, connect.ComponentVault)
	roots := d.knownRoots()
	for _, u := range sortedKeys(others) {
		if !slices.Contains(others[u], vol) {
			continue
		}
		if p, ok := state.FindOwner(roots, st.Name, u); ok && p.Dir != st.Dir() {
			continue // another sandbox's, whose own state holds its key
		}
		k := guard.KeptKey{StateDir: st.Dir(), Volume: strings.TrimPrefix(vol, "volume "), VolumeUUID: u, StateUUID: st.UUID}
		if st.Vault != nil && st.Vault.ClusterID != "" {
			k.SameVault = vaultClusterID(ctx, appr, st.Name, u) == st.Vault.ClusterID
		}
		return guard.KeepKeyError(k)
	}
	return nil
}

// vaultClusterID is the cluster_id that the running Vault container of sandbox name
// with this UUID reports, asked inside the container (`vault status`, no token, nothing
// dialled from here); "" when it is not running, sealed or does not say.
func vaultClusterID(ctx context.Context, appr guard.DockerApproval, name, uuid string) string {
	rt, err := docker.New(appr, name, uuid)
	if err != nil {
		return ""
	}
	defer rt.Close()
	info, ok, err := rt.Inspect(ctx, connect.ComponentVault)
	if err != nil || !ok || !info.Running {
		return ""
	}
	var out bytes.Buffer
	_, err = rt.Exec(ctx, connect.ComponentVault, []string{"vault", "status", "-format=json"},
		[]string{fmt.Sprintf("VAULT_ADDR=http://127.0.0.1:%d", connect.VaultPort)}, docker.ExecIO{Stdout: &out, Stderr: io.Discard})
	if err != nil {
		return ""
	}
	var s struct {
		ClusterID string `json:"cluster_id"`
	}
	if json.Unmarshal(out.Bytes(), &s) != nil {
		return ""
	}
	return s.ClusterID
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
