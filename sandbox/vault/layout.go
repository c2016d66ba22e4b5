package vault

import (
	"fmt"
	"strings"
)

// Names of the mounts, auth backends and roles, as production has them
// (shared/seeds/secrets-and-vault.md).
const (
	MountKVv2     = "kvv2"
	MountKVv1     = "kv"
	MountTransit  = "transit"
	MountDatabase = "postgres"
	AuthK8s       = "kubernetes"
	AuthJWT       = "jwt"
	// DBConnection is the database engine's connection name.
	DBConnection = "postgres"
	// CIIssuer and CIAudience are the sandbox's stand-ins for the Gitea instance that
	// issues CI tokens and the audience its workflows request.
	CIIssuer   = "https://gitea.labsbx.test"
	CIAudience = "vault"
	// CIOwner is the repository owner in the CI token's claims: the app's repository
	// is CIOwner/<app>.
	CIOwner = "arcodange"
)

// RuntimePolicy is the policy name of an app's runtime identity.
func RuntimePolicy(app string) string { return app }

// OpsPolicy is the policy name of an app's provisioning identity (CI, OpenTofu).
func OpsPolicy(app string) string { return app + "-ops" }

// CIRole is the JWT auth role that CI of an app logs in with.
func CIRole(app string) string { return "gitea_cicd_" + app }

// CIRepository is the repository claim that identifies an app's CI.
func CIRepository(app string) string { return CIOwner + "/" + app }

// CredsPath is where an app reads its dynamic Postgres credentials.
func CredsPath(app string) string { return MountDatabase + "/creds/" + app }

// ConfigPath is the KV v2 API path of an app's static config.
func ConfigPath(app string) string { return MountKVv2 + "/data/" + app + "/config" }

// runtimePolicyHCL may read the app's config and credentials, and use its transit key.
func runtimePolicyHCL(app string) string {
	return strings.TrimLeft(fmt.Sprintf(`
# labsbx: runtime policy of %[1]s (Kubernetes role %[1]s)
path "%[2]s/data/%[1]s/*" {
  capabilities = ["read"]
}
path "%[3]s/creds/%[1]s" {
  capabilities = ["read"]
}
path "%[4]s/encrypt/%[1]s" {
  capabilities = ["update"]
}
path "%[4]s/decrypt/%[1]s" {
  capabilities = ["update"]
}
`, app, MountKVv2, MountDatabase, MountTransit), "\n")
}

// opsPolicyHCL may write and read the app's KV v2 data and metadata.
func opsPolicyHCL(app string) string {
	return strings.TrimLeft(fmt.Sprintf(`
# labsbx: provisioning policy of %[1]s (JWT role gitea_cicd_%[1]s)
path "%[2]s/data/%[1]s/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "%[2]s/metadata/%[1]s/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
`, app, MountKVv2), "\n")
}
