package vault

import "testing"

// The HCL written from the rules is the text sandboxes already hold: a changed text
// would make every bootstrap rewrite the policies.
func TestPolicyHCLText(t *testing.T) {
	runtime := `# labsbx: runtime policy of webapp (Kubernetes role webapp)
path "kvv2/data/webapp/*" {
  capabilities = ["read"]
}
path "postgres/creds/webapp" {
  capabilities = ["read"]
}
path "transit/encrypt/webapp" {
  capabilities = ["update"]
}
path "transit/decrypt/webapp" {
  capabilities = ["update"]
}
`
	ops := `# labsbx: provisioning policy of webapp (JWT role gitea_cicd_webapp)
path "kvv2/data/webapp/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "kvv2/metadata/webapp/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
`
	if got := runtimePolicyHCL("webapp"); got != runtime {
		t.Errorf("runtime policy:\n%s\nwant\n%s", got, runtime)
	}
	if got := opsPolicyHCL("webapp"); got != ops {
		t.Errorf("ops policy:\n%s\nwant\n%s", got, ops)
	}
}

func TestAllows(t *testing.T) {
	rt, ops := RuntimeRules("webapp"), OpsRules("webapp")
	for _, c := range []struct {
		rules      []Rule
		capability string
		path       string
		want       bool
	}{
		{rt, "read", "kvv2/data/webapp/config", true},
		{rt, "read", "kvv2/data/webapp/deep/er", true},
		{rt, "create", "kvv2/data/webapp/labsbx-probe", false},
		{rt, "read", "kvv2/data/webapp2/config", false}, // a glob ends at its own slash
		{rt, "read", "kvv2/data/billing/config", false},
		{rt, "read", "kvv2/metadata/webapp/config", false},
		{rt, "read", "kv/webapp/config", false},
		{rt, "read", "postgres/creds/webapp", true},
		{rt, "update", "postgres/creds/webapp", false},
		{rt, "read", "postgres/creds/webapp2", false}, // an exact path is not a prefix
		{rt, "update", "transit/encrypt/webapp", true},
		{rt, "read", "transit/keys/webapp", false},
		{ops, "create", "kvv2/data/webapp/labsbx-probe", true},
		{ops, "list", "kvv2/metadata/webapp/x", true},
		{ops, "read", "postgres/creds/webapp", false},
		{ops, "update", "transit/encrypt/webapp", false},
		{nil, "read", "kvv2/data/webapp/config", false},
		// Vault's precedence: exact over glob, longer glob over shorter, deny wins on its rule.
		{[]Rule{{Path: "a/*", Capabilities: []string{"read"}}, {Path: "a/b", Capabilities: []string{"update"}}}, "read", "a/b", false},
		{[]Rule{{Path: "a/b/*", Capabilities: []string{"read"}}, {Path: "a/*", Capabilities: []string{"update"}}}, "update", "a/b/c", false},
		{[]Rule{{Path: "a/*", Capabilities: []string{"read", "deny"}}}, "read", "a/b", false},
	} {
		if got := Allows(c.rules, c.capability, c.path); got != c.want {
			t.Errorf("Allows(%v, %s, %s) = %v, want %v", c.rules, c.capability, c.path, got, c.want)
		}
	}
}
