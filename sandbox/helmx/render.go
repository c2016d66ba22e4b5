package helmx

import (
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
)

// Render renders a chart the way `helm template` does, through the Helm SDK's install
// action in client-only mode: no cluster is contacted. It returns the manifest.
func Render(ch *chart.Chart, release, namespace string, vals map[string]any) (string, error) {
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	in := action.NewInstall(cfg)
	in.DryRun = true
	in.DryRunOption = "client"
	in.ClientOnly = true
	in.Replace = true
	in.ReleaseName = release
	in.Namespace = namespace
	rel, err := in.Run(ch, vals)
	if err != nil {
		return "", fmt.Errorf("render chart %s as %s/%s: %w", ch.Name(), namespace, release, err)
	}
	return rel.Manifest, nil
}
