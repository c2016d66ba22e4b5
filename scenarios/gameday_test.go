package scenarios

import (
	"strings"
	"testing"

	"github.com/arcodange/labsbx/scenarios/drillfile"
)

func TestSummariseOverRounds(t *testing.T) {
	runs := []ScenarioResult{
		{Name: "seal", Result: ResultPassed, TimeToDetectMs: 30, TimeToRecoverMs: 300},
		{Name: "x", Result: ResultFailed, TimeToDetectMs: 1, TimeToRecoverMs: 1},
		{Name: "seal", Result: ResultPassed, TimeToDetectMs: 10, TimeToRecoverMs: 100},
		{Name: "seal", Result: ResultFailed, TimeToDetectMs: 999, TimeToRecoverMs: 999},
		{Name: "seal", Result: ResultPassed, TimeToDetectMs: 20, TimeToRecoverMs: 250},
		{Name: "seal", Result: ResultPassed, TimeToDetectMs: 40, TimeToRecoverMs: 200},
	}
	got := summarise(runs)
	if len(got) != 2 || got[0].Name != "seal" || got[1].Name != "x" {
		t.Fatalf("summary: %+v", got)
	}
	s := got[0]
	if s.Runs != 5 || s.Passed != 4 || s.Detect != (Figures{10, 25, 40}) || s.Recover != (Figures{100, 225, 300}) {
		t.Errorf("seal: %+v", s)
	}
	if x := got[1]; x.Runs != 1 || x.Passed != 0 || x.Detect != (Figures{}) {
		t.Errorf("x: %+v", x)
	}
	if f := figures([]int64{5, 1, 9}); f != (Figures{1, 5, 9}) {
		t.Errorf("odd median: %+v", f)
	}
}

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
