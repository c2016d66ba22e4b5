package scenarios

import (
	"strings"
	"testing"
)

// fileScenario is a fake of a drill file's scenario: it names its file, and is
// renewed for each round.
type fileScenario struct{ *fakeScenario }

func (f fileScenario) Source() string  { return f.name + ".yaml" }
func (f fileScenario) Renew() Scenario { return fileScenario{&fakeScenario{name: f.name}} }

// A drill file may not take a built-in drill's or group's name, nor come twice.
func TestFileDrillNames(t *testing.T) {
	doc := func(name string) Scenario { return fileScenario{&fakeScenario{name: name}} }
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Files: []Scenario{doc("seal")}}, `seal.yaml: drill name "seal" is a built-in drill's`},
		{Options{Files: []Scenario{doc("broken-rotation")}}, `is a built-in drill's`},
		{Options{Files: []Scenario{doc("mine"), doc("mine")}}, `mine.yaml: drill "mine" is given twice`},
	} {
		if _, err := tc.opts.list(testCatalogue); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.want, err)
		}
	}
	list, err := Options{Scenarios: []string{"seal"}, Files: []Scenario{doc("mine")}}.list(testCatalogue)
	if err != nil || names(list) != "seal,mine" {
		t.Errorf("list: %s %v", names(list), err)
	}
	if r := testCatalogue.fresh(list, 2); r[1] == list[1] || r[0] == list[0] || r[0].Name() != "seal" || r[1].Name() != "mine" {
		t.Error("a later round must run fresh scenarios")
	}
}

// Secrets never reach a report: the sandbox's own wherever they appear, and what a
// runbook prints of tokens and passwords it read itself.
func TestRedact(t *testing.T) {
	e := &Env{}
	e.AddSecret("S3cr3tUnsealKey==")
	e.AddSecret("abc") // too short to be one of labsbx's secrets
	for in, want := range map[string]string{
		"key S3cr3tUnsealKey== used":                      "key [redacted] used",
		"token hvs.CAESIJ1a2b3c4d5e6f7g8h9i0jKLMNOPQRS x": "token [redacted] x",
		`{"password": "A1a-x9Zq", "username": "v-tok"}`:   `{"password": [redacted], "username": "v-tok"}`,
		"password            A1a-x9Zq\nusername  v-tok":   "password            [redacted]\nusername  v-tok",
		"PGPASSWORD=hunter22 psql":                        "PGPASSWORD=[redacted] psql",
		`"unseal_keys_b64": ["k1", "k2"]`:                 `"unseal_keys_b64": [redacted]`,
		"abc is fine":                                     "abc is fine",
	} {
		if got := e.Redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
