package scenarios

import (
	"strings"
	"testing"

	"github.com/arcodange/labsbx/scenarios/drillfile"
)

// A drill file may not take a built-in drill's or group's name, nor come twice.
func TestFileDrillNames(t *testing.T) {
	doc := func(name string) *drillfile.Drill {
		d, err := drillfile.Parse(name+".yaml", []byte("apiVersion: labsbx.dev/v1alpha1\nkind: Drill\nmetadata:\n  name: "+name+
			"\nspec:\n  fault:\n    builtin: seal\n  symptom:\n    - vault: sealed\n  recovery:\n    builtin: true\n  verify:\n    - vault: unsealed\n"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Files: []*drillfile.Drill{doc("seal")}}, `drill name "seal" is a built-in drill's`},
		{Options{Files: []*drillfile.Drill{doc("broken-rotation")}}, `is a built-in drill's`},
		{Options{Files: []*drillfile.Drill{doc("mine"), doc("mine")}}, `drill "mine" is given twice`},
	} {
		if _, err := tc.opts.list(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.want, err)
		}
	}
	list, err := Options{Scenarios: []string{"seal"}, Files: []*drillfile.Drill{doc("mine")}}.list()
	if err != nil || names(list) != "seal,mine" {
		t.Errorf("list: %s %v", names(list), err)
	}
	if r := fresh(list, 2); r[1] == list[1] || r[0].Name() != "seal" || r[1].Name() != "mine" {
		t.Error("a later round must run fresh scenarios")
	}
}

// Secrets never reach a report: the sandbox's own wherever they appear, and what a
// runbook prints of tokens and passwords it read itself.
func TestRedact(t *testing.T) {
	e := &Env{}
	e.addSecret("S3cr3tUnsealKey==")
	e.addSecret("abc") // too short to be one of labsbx's secrets
	for in, want := range map[string]string{
		"key S3cr3tUnsealKey== used":                      "key [redacted] used",
		"token hvs.CAESIJ1a2b3c4d5e6f7g8h9i0jKLMNOPQRS x": "token [redacted] x",
		`{"password": "A1a-x9Zq", "username": "v-tok"}`:   `{"password": [redacted], "username": "v-tok"}`,
		"password            A1a-x9Zq\nusername  v-tok":   "password            [redacted]\nusername  v-tok",
		"PGPASSWORD=hunter22 psql":                        "PGPASSWORD=[redacted] psql",
		`"unseal_keys_b64": ["k1", "k2"]`:                 `"unseal_keys_b64": [redacted]`,
		"abc is fine":                                     "abc is fine",
	} {
		if got := e.redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
