// Package helmx installs and upgrades Helm releases on the sandbox cluster through the
// Helm v3 SDK (helm.sh/helm/v3/pkg/action), with clients built only from a
// guard-verified connection (guard.Kube). Apply is upgrade-or-install and idempotent:
// a release whose chart, values and rendered manifest are already deployed, with all
// its objects present, is left alone and reported unchanged.
package helmx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// Action says what Apply did to a release.
type Action string

const (
	Installed Action = "installed"
	Upgraded  Action = "upgraded"
	Unchanged Action = "unchanged"
)

// Release is one release to converge.
type Release struct {
	Name      string
	Namespace string
	Chart     *chart.Chart
	// Values are the whole of the user-supplied values (Helm's ResetValues): nothing
	// is reused from an earlier revision.
	Values map[string]any
}

// Result is what Apply did.
type Result struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	Chart        string `json:"chart"`
	ChartVersion string `json:"chartVersion"`
	Action       Action `json:"action"`
	Revision     int    `json:"revision"`
	// Reason says why a release was upgraded ("manifest changed", …); "" otherwise.
	Reason string `json:"reason,omitempty"`
}

// Changed reports whether Apply changed the cluster.
func (r *Result) Changed() bool { return r.Action != Unchanged }

// Client runs Helm actions against the sandbox cluster.
type Client struct {
	kube *guard.Kube
	log  *slog.Logger
	// Timeout bounds each install or upgrade (hooks included). No action waits for
	// workloads to become ready: readiness is checked by the caller's own steps.
	Timeout time.Duration
	// MaxHistory bounds the revisions kept per release.
	MaxHistory int
}

// New returns a client for a connection whose marker the guard verified (Connect or
// WriteMarker). A pending or zero connection is refused.
func New(k *guard.Kube, log *slog.Logger) (*Client, error) {
	if !k.Verified() {
		if _, err := k.RESTConfig(); err != nil {
			return nil, err
		}
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Client{kube: k, log: log, Timeout: 5 * time.Minute, MaxHistory: 10}, nil
}

// configuration is one Helm action configuration per namespace, as the helm CLI
// makes one per --namespace; releases are stored as Secrets in that namespace.
func (c *Client) configuration(namespace string) (*action.Configuration, error) {
	g, err := newGetter(c.kube, namespace)
	if err != nil {
		return nil, err
	}
	cfg := new(action.Configuration)
	log := func(format string, v ...any) { c.log.Debug(fmt.Sprintf(format, v...), "component", "helm") }
	if err := cfg.Init(g, namespace, "secret", log); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

// Apply installs the release if it does not exist, and upgrades it unless what is
// deployed already matches. ctx cancels the Helm action (Helm then leaves the release
// pending; the next Apply takes it over, see takeOverPending).
func (c *Client) Apply(ctx context.Context, r Release) (*Result, error) {
	if r.Chart == nil || r.Chart.Metadata == nil {
		return nil, errors.New("helmx: release without a chart")
	}
	res := &Result{Name: r.Name, Namespace: r.Namespace, Chart: r.Chart.Name(), ChartVersion: r.Chart.Metadata.Version}
	cfg, err := c.configuration(r.Namespace)
	if err != nil {
		return nil, err
	}
	vals := r.Values
	if vals == nil {
		vals = map[string]any{}
	}
	last, err := cfg.Releases.Last(r.Name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return c.install(ctx, cfg, r, vals, res)
	case err != nil:
		return nil, fmt.Errorf("release %s/%s: %w", r.Namespace, r.Name, err)
	}
	if last.Info.Status.IsPending() {
		if err := c.takeOverPending(cfg, last); err != nil {
			return nil, err
		}
	}
	if last.Info.Status == release.StatusUninstalled {
		return c.install(ctx, cfg, r, vals, res)
	}

	// Render what an upgrade would deploy, without deploying it.
	dry := c.upgrade(cfg, r.Namespace)
	dry.DryRun, dry.DryRunOption = true, "server"
	want, err := dry.RunWithContext(ctx, r.Name, r.Chart, vals)
	if err != nil {
		return nil, fmt.Errorf("render release %s/%s: %w", r.Namespace, r.Name, err)
	}
	reason, err := c.difference(cfg, last, want)
	if err != nil {
		return nil, err
	}
	if reason == "" {
		res.Action, res.Revision = Unchanged, last.Version
		return res, nil
	}
	up := c.upgrade(cfg, r.Namespace)
	rel, err := up.RunWithContext(ctx, r.Name, r.Chart, vals)
	if err != nil {
		return nil, fmt.Errorf("upgrade release %s/%s (%s): %w", r.Namespace, r.Name, reason, err)
	}
	res.Action, res.Revision, res.Reason = Upgraded, rel.Version, reason
	return res, nil
}

func (c *Client) install(ctx context.Context, cfg *action.Configuration, r Release, vals map[string]any, res *Result) (*Result, error) {
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = r.Name, r.Namespace
	in.CreateNamespace = true
	in.Replace = true // reuse the name of an uninstalled or failed release
	in.Timeout = c.Timeout
	rel, err := in.RunWithContext(ctx, r.Chart, vals)
	if err != nil {
		return nil, fmt.Errorf("install release %s/%s: %w", r.Namespace, r.Name, err)
	}
	res.Action, res.Revision = Installed, rel.Version
	return res, nil
}

func (c *Client) upgrade(cfg *action.Configuration, namespace string) *action.Upgrade {
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.ResetValues = true
	up.Timeout = c.Timeout
	up.MaxHistory = c.MaxHistory
	return up
}

// takeOverPending marks a release that an interrupted labsbx left pending as failed,
// so that the upgrade that follows can proceed (Helm refuses to upgrade a pending
// release). The caller holds the sandbox lock, so no other labsbx operation is running.
func (c *Client) takeOverPending(cfg *action.Configuration, last *release.Release) error {
	was := last.Info.Status
	c.log.Warn("taking over a release left pending by an interrupted run", "release", last.Name, "namespace", last.Namespace, "status", was)
	last.Info.Status = release.StatusFailed
	last.Info.Description = fmt.Sprintf("labsbx: %s interrupted (%s)", was, last.Info.Description)
	if err := cfg.Releases.Update(last); err != nil {
		return fmt.Errorf("release %s/%s is %s and could not be taken over: %w", last.Namespace, last.Name, was, err)
	}
	return nil
}

// difference says why the deployed release differs from the wanted one; "" when it
// does not: same chart version, same values, same rendered manifest and hooks, the
// release deployed, and every object of its manifest present in the cluster.
func (c *Client) difference(cfg *action.Configuration, last, want *release.Release) (string, error) {
	switch {
	case last.Info.Status != release.StatusDeployed:
		return "last revision is " + string(last.Info.Status), nil
	case last.Chart == nil || last.Chart.Metadata == nil || last.Chart.Metadata.Version != want.Chart.Metadata.Version:
		return "chart version changed", nil
	case !sameJSON(last.Config, want.Config):
		return "values changed", nil
	case last.Manifest != want.Manifest:
		return "manifest changed", nil
	case hooks(last) != hooks(want):
		return "hooks changed", nil
	}
	missing, err := missingObject(cfg, last.Manifest)
	if err != nil {
		return "", fmt.Errorf("release %s/%s: %w", last.Namespace, last.Name, err)
	}
	if missing != "" {
		return missing + " is missing", nil
	}
	return "", nil
}

// missingObject returns the first object of the manifest that the cluster lacks.
func missingObject(cfg *action.Configuration, manifest string) (string, error) {
	objs, err := cfg.KubeClient.Build(bytes.NewBufferString(manifest), false)
	if err != nil {
		return "", fmt.Errorf("read deployed manifest: %w", err)
	}
	for _, info := range objs {
		if err := info.Get(); err != nil {
			if apierrors.IsNotFound(err) {
				return info.ObjectName(), nil
			}
			return "", fmt.Errorf("get %s: %w", info.ObjectName(), err)
		}
	}
	return "", nil
}

func hooks(r *release.Release) string {
	var b bytes.Buffer
	for _, h := range r.Hooks {
		b.WriteString(h.Path)
		b.WriteString("\n")
		b.WriteString(h.Manifest)
	}
	return b.String()
}

// sameJSON compares values the way they are stored: Helm keeps a release's values as
// JSON, so numbers come back as float64; encoding/json sorts map keys.
func sameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// Get returns the last revision of a release, or an error wrapping
// driver.ErrReleaseNotFound.
func (c *Client) Get(name, namespace string) (*release.Release, error) {
	cfg, err := c.configuration(namespace)
	if err != nil {
		return nil, err
	}
	return cfg.Releases.Last(name)
}

// ErrReleaseNotFound is Helm's "release: not found".
var ErrReleaseNotFound = driver.ErrReleaseNotFound
