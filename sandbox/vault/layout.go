package vault

import (
	"fmt"
	"slices"
	"strconv"
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

// Rule is one path rule of a layout policy: a path (a glob when it ends in *) and the
// capabilities it grants. The policies' HCL is written from these rules, and the
// policy-isolation drill derives from the same rules what each identity may do, so
// that the two cannot drift apart.
type Rule struct {
	Path         string
	Capabilities []string
}

// RuntimeRules are policy <app>: read the app's config and credentials, and use its
// transit key (encrypt and decrypt). Nothing else: not its KV v1 entries, not the
// transit key itself, not another app's paths.
func RuntimeRules(app string) []Rule {
	return []Rule{
		{Path: MountKVv2 + "/data/" + app + "/*", Capabilities: []string{"read"}},
		{Path: CredsPath(app), Capabilities: []string{"read"}},
		{Path: MountTransit + "/encrypt/" + app, Capabilities: []string{"update"}},
		{Path: MountTransit + "/decrypt/" + app, Capabilities: []string{"update"}},
	}
}

// OpsRules are policy <app>-ops: write and read the app's KV v2 data and metadata.
// Nothing else: not its credentials, not transit, not KV v1.
func OpsRules(app string) []Rule {
	return []Rule{
		{Path: MountKVv2 + "/data/" + app + "/*", Capabilities: []string{"create", "read", "update", "delete"}},
		{Path: MountKVv2 + "/metadata/" + app + "/*", Capabilities: []string{"create", "read", "update", "delete", "list"}},
	}
}

// Allows reports whether rules grant capability on path, matching as Vault does for
// such rules: an exact path wins over the globs, and among the globs (a trailing *)
// the longest prefix wins; "deny" on the winning rule denies everything.
func Allows(rules []Rule, capability, path string) bool {
	var best *Rule
	exact := false
	for i := range rules {
		r := &rules[i]
		switch prefix, glob := strings.CutSuffix(r.Path, "*"); {
		case !glob && r.Path == path:
			best, exact = r, true
		case glob && !exact && strings.HasPrefix(path, prefix) && (best == nil || len(r.Path) > len(best.Path)):
			best = r
		}
	}
	if best == nil || slices.Contains(best.Capabilities, "deny") {
		return false
	}
	return slices.Contains(best.Capabilities, capability)
}

// runtimePolicyHCL is the HCL of RuntimeRules.
func runtimePolicyHCL(app string) string {
	return policyHCL(fmt.Sprintf("runtime policy of %[1]s (Kubernetes role %[1]s)", app), RuntimeRules(app))
}

// opsPolicyHCL is the HCL of OpsRules.
func opsPolicyHCL(app string) string {
	return policyHCL(fmt.Sprintf("provisioning policy of %s (JWT role %s)", app, CIRole(app)), OpsRules(app))
}

// policyHCL writes rules as a policy, after a comment line with its title.
func policyHCL(title string, rules []Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# labsbx: %s\n", title)
	for _, r := range rules {
		caps := make([]string, len(r.Capabilities))
		for i, c := range r.Capabilities {
			caps[i] = strconv.Quote(c)
		}
		fmt.Fprintf(&b, "path %q {\n  capabilities = [%s]\n}\n", r.Path, strings.Join(caps, ", "))
	}
	return b.String()
}
