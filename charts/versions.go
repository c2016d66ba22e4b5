package charts

// The one place that pins every chart the full profile installs. The upstream charts
// come from HashiCorp's Helm repository (which this build cannot reach offline; an
// offline bundle must carry them); ours are embedded (see Load).
const (
	// HashiCorpRepo is the Helm repository of the official hashicorp/vault and
	// hashicorp/vault-secrets-operator charts.
	HashiCorpRepo = "https://helm.releases.hashicorp.com"

	// VaultChartVersion is hashicorp/vault, standalone mode. Its default image is Vault
	// 1.21.2; labsbx sets server.image to spec.vault.image.
	VaultChartVersion = "0.32.0"
	// VSOChartVersion is hashicorp/vault-secrets-operator; its image is
	// hashicorp/vault-secrets-operator of the same version.
	VSOChartVersion = "0.10.0"
	// VSOImage is the operator image that VSOChartVersion runs; labsbx sets it in the
	// chart's values rather than rely on the chart's default.
	VSOImageRepo = "hashicorp/vault-secrets-operator"
	VSOImage     = VSOImageRepo + ":" + VSOChartVersion
	// KubeRbacProxyImage is the sidecar that the VSO chart of this version puts beside
	// the operator (controller.kubeRbacProxy); pinned in the values too, and imported
	// into the cluster with the others, since the nodes cannot pull it.
	KubeRbacProxyImageRepo = "quay.io/brancz/kube-rbac-proxy"
	KubeRbacProxyImageTag  = "v0.18.1"
	KubeRbacProxyImage     = KubeRbacProxyImageRepo + ":" + KubeRbacProxyImageTag

	// Our charts, embedded (their Chart.yaml must say the same: TestPinnedVersions).
	PostgresChartVersion = "0.1.0"
	DemoAppChartVersion  = "0.1.0"
)

// Chart names.
const (
	Vault    = "vault"
	VSO      = "vault-secrets-operator"
	Postgres = "postgres"
	DemoApp  = "demo-app"
)

// Ref names a chart at a pinned version and where it comes from.
type Ref struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Repo is the Helm repository URL; "" for a chart embedded in labsbx.
	Repo string `json:"repo,omitempty"`
	// Embedded says the chart is inside the labsbx binary.
	Embedded bool `json:"embedded,omitempty"`
}

// Source says where the chart comes from, for people.
func (r Ref) Source() string {
	if r.Embedded {
		return "embedded"
	}
	return r.Repo
}

// Pinned returns every chart of the full profile in install order: Postgres, Vault,
// VSO, then the demo app.
func Pinned() []Ref {
	return []Ref{
		{Name: Postgres, Version: PostgresChartVersion, Embedded: true},
		{Name: Vault, Version: VaultChartVersion, Repo: HashiCorpRepo},
		{Name: VSO, Version: VSOChartVersion, Repo: HashiCorpRepo},
		{Name: DemoApp, Version: DemoAppChartVersion, Embedded: true},
	}
}
