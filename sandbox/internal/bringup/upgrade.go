package bringup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/internal/execx"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// ChangeVaultImage puts the sandbox's Vault on another image, as an operator upgrades
// it: the state records the image first (so that an interrupted change converges on
// it), then
//   - vault profile: the container is stopped cleanly and made again on the same data
//     volume, address and configuration;
//   - full profile: the Vault release is upgraded (`helm upgrade` with the new image),
//     the image imported into the nodes first; the StatefulSet rolls its pod as the
//     chart's update strategy allows (RollingUpdate, see vaultChartValues), on the
//     same PersistentVolumeClaim.
//
// The new Vault starts sealed; the caller unseals it. Rolling back is the same call
// with the older image, on storage the older Vault can read (Vault does not support
// downgrades of its storage: a rollback restores the pre-change backup first,
// RestoreVault or RestoreFullVaultStorage). The caller holds the sandbox lock and
// passes the state it holds.
func ChangeVaultImage(ctx context.Context, cfg *Config, st *state.State, image string) ([]string, error) {
	return operation(ctx, cfg, st, func(p *Context) error {
		// Only a local image: a change must not wait on (or be steered by) a registry.
		if _, ok, err := p.rt.ImageID(ctx, image); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("image %s is not on this machine; build or load it first", image)
			}
			return err
		}
		if st.Spec.Vault.Image != image {
			st.Spec.Vault.Image = image
			if err := cfg.Store.Save(st, cfg.now()); err != nil {
				return err
			}
		}
		switch st.Profile {
		case config.ProfileVault:
			return vaultStep(ctx, p)
		case config.ProfileFull:
			return upgradeVaultRelease(ctx, p)
		}
		return fmt.Errorf("sandbox %q has profile %q, whose Vault labsbx cannot change", st.Name, st.Profile)
	})
}

// ImportVaultImage copies image into the full profile's nodes ahead of a change (they
// pull nothing), so that the change itself is only the release's upgrade and the
// pod's roll: Vault keeps serving meanwhile. The state records the import, which the
// change then skips. Nothing to do on the vault profile.
func ImportVaultImage(ctx context.Context, cfg *Config, st *state.State, image string) ([]string, error) {
	if st.Profile != config.ProfileFull {
		return nil, nil
	}
	return operation(ctx, cfg, st, func(p *Context) error {
		if err := clusterStep(ctx, p); err != nil {
			return err
		}
		refs, err := importRefs(ctx, p, []string{image}, "build or load it first")
		if len(refs) > 0 {
			p.change("imported image " + image + " into the cluster")
		}
		return err
	})
}

// operation runs do on a Context opened for the sandbox st outside an up (a drill's
// change or restore): the profile's Docker engine checked first, the connections
// closed after, the state saved once do succeeded. It returns what was changed.
func operation(ctx context.Context, cfg *Config, st *state.State, do func(*Context) error) ([]string, error) {
	res := &Result{}
	p, err := New(cfg, st, nil, res)
	if err != nil {
		return nil, err
	}
	defer p.conn.Close()
	engine := dockerEngine
	if st.Profile == config.ProfileFull {
		engine = fullDockerEngine
	}
	if err := engine(ctx, p); err != nil {
		return res.Changes, err
	}
	if err := do(p); err != nil {
		return res.Changes, err
	}
	return res.Changes, cfg.Store.Save(st, cfg.now())
}

// upgradeVaultRelease: the cluster's nodes get the image (they pull nothing), the
// Vault release is upgraded with it, and the StatefulSet rolls its pod.
func upgradeVaultRelease(ctx context.Context, p *Context) error {
	for _, step := range []func(context.Context, *Context) error{clusterStep, importImages} {
		if err := step(ctx, p); err != nil {
			return err
		}
	}
	for _, r := range FullReleases(p.st.Spec) {
		if r.Chart.Name != charts.Vault {
			continue
		}
		if err := p.apply(ctx, r); err != nil {
			return err
		}
		return waitVault(ctx, p)
	}
	return errors.New("the full profile has no Vault release")
}

// Where the full profile's Vault keeps its storage: the chart's StatefulSet has one
// pod, whose container "vault" mounts the data PersistentVolumeClaim here (storage
// "file", vaultStandaloneConfig).
const (
	vaultPod       = charts.Vault + "-0"
	vaultContainer = "vault"
	fullVaultData  = "/vault/data"
)

// ArchiveFullVaultStorage streams a tar of the full profile's Vault storage from its
// pod (tar in the Vault image, which the chart requires anyway for its shell). The
// caller seals Vault first, so that nothing writes to the storage meanwhile.
func ArchiveFullVaultStorage(ctx context.Context, cfg *Config, st *state.State, w io.Writer) error {
	return execInVault(ctx, cfg, st, []string{"tar", "-c", "-C", fullVaultData, "."}, nil, w)
}

// RestoreFullVaultStorage replaces the full profile's Vault storage with the tar
// storage, in its pod. The caller seals Vault first: a sealed Vault neither reads nor
// writes the storage until it is unsealed, and the next Vault to unseal is the one
// the caller starts on the restored files.
func RestoreFullVaultStorage(ctx context.Context, cfg *Config, st *state.State, storage io.Reader) error {
	// Every entry of the data dir goes (dot files included), then the archive's.
	script := `set -e; cd ` + fullVaultData + `; find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +; tar -x -C ` + fullVaultData
	return execInVault(ctx, cfg, st, []string{"sh", "-c", script}, storage, io.Discard)
}

// execInVault runs cmd in the Vault pod's container through the sandbox's approved
// cluster (the guard's kubeconfig, server, CA and marker), as `kubectl exec` does.
func execInVault(ctx context.Context, cfg *Config, st *state.State, cmd []string, stdin io.Reader, stdout io.Writer) error {
	if st.Profile != config.ProfileFull {
		return fmt.Errorf("sandbox %q runs Vault as a container, not a pod", st.Name)
	}
	p, err := New(cfg, st, nil, &Result{})
	if err != nil {
		return err
	}
	defer p.conn.Close()
	if err := p.connect(ctx); err != nil {
		return err
	}
	rc, err := p.kube.RESTConfig()
	if err != nil {
		return err
	}
	req := p.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(NamespaceVault).Name(vaultPod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: vaultContainer, Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(rc, "POST", req.URL())
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("%s in pod %s/%s: %w: %s", cmd[0], NamespaceVault, vaultPod, err, execx.Tail(stderr.String(), 30))
	}
	return nil
}

// VaultConfigFile is the vault profile's Vault configuration inside its container,
// copied in before it first starts: a container without it was never finished.
const VaultConfigFile = vaultConfigPath
