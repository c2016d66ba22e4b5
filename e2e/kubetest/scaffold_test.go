package kubetest

import (
	"slices"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func scaffold(t *testing.T) map[string]apiextv1.CustomResourceValidation {
	t.Helper()
	out := map[string]apiextv1.CustomResourceValidation{}
	for _, doc := range strings.Split(scaffoldCRDs, "\n---\n") {
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict([]byte(doc), &crd); err != nil {
			t.Fatal(err)
		}
		if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1beta1" {
			t.Fatalf("%s: want the one version v1beta1", crd.Name)
		}
		v := crd.Spec.Versions[0]
		if v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("%s has no status subresource (VSO's CRDs all have one)", crd.Spec.Names.Kind)
		}
		out[crd.Spec.Names.Kind] = *v.Schema
	}
	for _, kind := range []string{"VaultAuth", "VaultConnection", "VaultDynamicSecret", "VaultStaticSecret"} {
		if _, ok := out[kind]; !ok {
			t.Fatalf("the scaffold lacks %s", kind)
		}
	}
	return out
}

// at walks a schema down properties (and array items, as "[]").
func at(t *testing.T, s apiextv1.JSONSchemaProps, path ...string) apiextv1.JSONSchemaProps {
	t.Helper()
	for _, p := range path {
		if p == "[]" {
			if s.Items == nil || s.Items.Schema == nil {
				t.Fatalf("%v: no items", path)
			}
			s = *s.Items.Schema
			continue
		}
		next, ok := s.Properties[p]
		if !ok {
			t.Fatalf("%v: no property %q", path, p)
		}
		s = next
	}
	return s
}

// noPreserve fails on any x-kubernetes-preserve-unknown-fields: VSO's CRDs prune.
func noPreserve(t *testing.T, where string, s apiextv1.JSONSchemaProps) {
	t.Helper()
	if s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields {
		t.Errorf("%s preserves unknown fields; VSO's CRDs prune them", where)
	}
	for name, p := range s.Properties {
		noPreserve(t, where+"."+name, p)
	}
	if s.Items != nil && s.Items.Schema != nil {
		noPreserve(t, where+"[]", *s.Items.Schema)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		noPreserve(t, where+"{}", *s.AdditionalProperties.Schema)
	}
}

// TestScaffoldIsAsStrictAsVSO pins the constraints of VSO v0.10.0's schemas that the
// stand-ins must keep (the API server's enforcement of them is
// TestIntegrationScaffoldEnforces).
func TestScaffoldIsAsStrictAsVSO(t *testing.T) {
	crds := scaffold(t)
	for kind, v := range crds {
		noPreserve(t, kind, *v.OpenAPIV3Schema)
	}
	root := func(kind string) apiextv1.JSONSchemaProps { return *crds[kind].OpenAPIV3Schema }
	required := func(s apiextv1.JSONSchemaProps, want ...string) {
		t.Helper()
		r := slices.Clone(s.Required)
		slices.Sort(r)
		slices.Sort(want)
		if !slices.Equal(r, want) {
			t.Errorf("required %v, want %v", r, want)
		}
	}
	def := func(s apiextv1.JSONSchemaProps, want string) {
		t.Helper()
		if s.Default == nil || string(s.Default.Raw) != want {
			t.Errorf("default %v, want %s", s.Default, want)
		}
	}

	vds, vss := root("VaultDynamicSecret"), root("VaultStaticSecret")
	required(at(t, vds, "spec"), "destination", "mount", "path")
	required(at(t, vss, "spec"), "destination", "mount", "path", "type")
	required(at(t, vds, "status"), "lastGeneration", "lastRenewalTime", "secretLease")
	required(at(t, vds, "status", "secretLease"), "duration", "id", "renewable", "requestID")
	required(at(t, vss, "status"), "lastGeneration")
	for _, s := range []apiextv1.JSONSchemaProps{vds, vss} {
		dest := at(t, s, "spec", "destination")
		required(dest, "name") // create and overwrite are optional, defaulted to false
		def(dest.Properties["create"], "false")
		def(dest.Properties["overwrite"], "false")
		var kinds []string
		for _, e := range at(t, s, "spec", "rolloutRestartTargets", "[]", "kind").Enum {
			kinds = append(kinds, strings.Trim(string(e.Raw), `"`))
		}
		if want := []string{"Deployment", "DaemonSet", "StatefulSet", "argo.Rollout"}; !slices.Equal(kinds, want) {
			t.Errorf("restart target kinds %v, want %v", kinds, want)
		}
	}
	def(at(t, vds, "spec", "renewalPercent"), "67")
	def(at(t, vss, "spec", "hmacSecretData"), "true")

	vc := at(t, root("VaultConnection"), "spec")
	required(vc, "address", "skipTLSVerify")
	def(vc.Properties["skipTLSVerify"], "false")
	required(at(t, root("VaultConnection"), "status"), "valid")

	var methods []string
	for _, e := range at(t, root("VaultAuth"), "spec", "method").Enum {
		methods = append(methods, strings.Trim(string(e.Raw), `"`))
	}
	if !slices.Contains(methods, "kubernetes") || slices.Contains(methods, "token") {
		t.Errorf("VaultAuth methods %v", methods)
	}
}
