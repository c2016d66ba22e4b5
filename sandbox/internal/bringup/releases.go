package bringup

import (
	"fmt"
	"strings"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
)

// The full profile's releases: where each chart goes and with which values. The
// bring-up (not in this build yet) and the dry-run plan share these definitions.
// No value holds a secret: the Postgres passwords reach the chart through a Secret
// that labsbx creates from the sandbox state (PostgresAuthSecret).

// Namespaces and release names of the full profile. Each demo app is release <app>
// in namespace <app>.
const (
	NamespacePostgres = config.NamespacePostgres
	NamespaceVault    = config.NamespaceVault
	NamespaceVSO      = config.NamespaceVSO
	// PostgresAuthSecret holds keys postgres-password and vault-admin-password.
	PostgresAuthSecret = "labsbx-postgres-auth"
)

// In-cluster addresses.
const (
	vaultServiceAddr    = "http://vault." + NamespaceVault + ".svc.cluster.local:8200"
	postgresServiceHost = "postgres." + NamespacePostgres + ".svc.cluster.local"
)

// FullRelease is one Helm release of the full profile.
type FullRelease struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Chart     charts.Ref     `json:"chart"`
	Values    map[string]any `json:"values"`
	// Purpose says what the release is for, for people.
	Purpose string `json:"purpose"`
}

// FullReleases lists the full profile's releases in install order: Postgres, Vault,
// VSO, then one demo app per app.
func FullReleases(s config.Spec) []FullRelease {
	pin := map[string]charts.Ref{}
	for _, r := range charts.Pinned() {
		pin[r.Name] = r
	}
	out := []FullRelease{
		{
			Name: charts.Postgres, Namespace: NamespacePostgres, Chart: pin[charts.Postgres],
			Purpose: "Postgres (official image): vault_admin and per app <app>_role owning schema <app>",
			Values: values(charts.PostgresValues{
				Image:   s.Postgres.Image,
				Apps:    append([]string(nil), s.Apps...),
				Auth:    charts.PostgresAuth{ExistingSecret: PostgresAuthSecret},
				Service: charts.PostgresService{NodePort: cluster.PostgresNodePort},
			}),
		},
		{
			Name: charts.Vault, Namespace: NamespaceVault, Chart: pin[charts.Vault],
			Purpose: "Vault standalone, file storage on a volume, UI and injector off; ready while sealed",
			Values:  vaultChartValues(s.Vault.Image),
		},
		{
			Name: charts.VSO, Namespace: NamespaceVSO, Chart: pin[charts.VSO],
			Purpose: "Vault Secrets Operator with a default VaultConnection to the sandbox Vault",
			Values: map[string]any{
				"defaultVaultConnection": map[string]any{"enabled": true, "address": vaultServiceAddr, "skipTLSVerify": false},
				"controller": map[string]any{
					"manager":       map[string]any{"image": imageValues(s.VSO.Image)},
					"kubeRbacProxy": map[string]any{"image": imageValues(s.VSO.KubeRbacProxyImage)},
				},
			},
		},
	}
	for _, app := range s.Apps {
		out = append(out, FullRelease{
			Name: app, Namespace: app, Chart: pin[charts.DemoApp],
			Purpose: "app " + app + ": ServiceAccount, VaultAuth, VaultDynamicSecret postgres/creds/" + app + ", VaultStaticSecret kvv2/" + app + "/config, Deployment",
			Values: values(charts.DemoAppValues{
				App:      app,
				Image:    s.Postgres.Image,
				Postgres: charts.DemoAppPostgres{Host: postgresServiceHost, Port: 5432, Database: "postgres"},
			}),
		})
	}
	return out
}

// values turns our charts' typed values into Helm's map, the one form both the run
// and the tests use. They are plain structs, so the conversion cannot fail.
func values(v any) map[string]any {
	m, err := charts.Values(v)
	if err != nil {
		panic(fmt.Sprintf("chart values %T: %v", v, err))
	}
	return m
}

// vaultChartValues configure hashicorp/vault as the vault profile runs it: a real
// server (not dev mode) on file storage, plain HTTP inside the cluster, published on
// a NodePort, and a readiness probe that a sealed or uninitialised Vault passes, so
// that labsbx can reach it to initialise and unseal it.
func vaultChartValues(image string) map[string]any {
	repo, tag := splitImage(image)
	return map[string]any{
		"injector": map[string]any{"enabled": false},
		"ui":       map[string]any{"enabled": false},
		"server": map[string]any{
			"image":       map[string]any{"repository": repo, "tag": tag},
			"standalone":  map[string]any{"enabled": true, "config": vaultStandaloneConfig},
			"ha":          map[string]any{"enabled": false},
			"dataStorage": map[string]any{"enabled": true, "size": "1Gi"},
			"service":     map[string]any{"type": "NodePort", "nodePort": cluster.VaultNodePort},
			// The chart's default, OnDelete, leaves the old pod running after an image
			// change until someone deletes it. RollingUpdate makes the StatefulSet
			// controller replace it; up waits for that, then unseals the new pod
			// (waitVault, initUnseal).
			"updateStrategyType": "RollingUpdate",
			"readinessProbe": map[string]any{
				"enabled": true,
				"path":    "/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204",
			},
		},
	}
}

const vaultStandaloneConfig = `ui = false
disable_mlock = true
listener "tcp" {
  address         = "[::]:8200"
  cluster_address = "[::]:8201"
  tls_disable     = 1
}
storage "file" {
  path = "/vault/data"
}
`

// imageValues are a chart's image.repository and image.tag for ref.
func imageValues(ref string) map[string]any {
	repo, tag := splitImage(ref)
	return map[string]any{"repository": repo, "tag": tag}
}

// splitImage splits "repo[:tag]" (a registry port is not a tag).
func splitImage(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}
