package drillfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// The examples are valid drill files.
func TestExamplesValidate(t *testing.T) {
	ds, err := LoadAll([]string{"../../examples/drills"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Metadata.Name)
	}
	if got := strings.Join(names, ","); got != "broken-grant-sql,ci-config-change,lost-lease-reread,unseal-runbook,vault-upgrade-file,vm-power-cut-ansible" {
		t.Errorf("examples: %s", got)
	}
}

const head = "apiVersion: labsbx.dev/v1alpha1\nkind: Drill\nmetadata:\n  name: d\nspec:\n"

const good = head + `  fault:
    builtin: seal
  symptom:
    - vault: sealed
  recovery:
    builtin: true
  verify:
    - vault: unsealed
`

// Every mistake is reported at once, at its line, with a suggestion where one is near.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown fields", head + "  fault:\n    builtin: seal\n  symtom: []\n  verify:\n    - vault: unsealed\n      timout: 3s\n",
			[]string{`line 8: spec.symtom: unknown field (did you mean "symptom"?)`, `line 11: spec.verify[0].timout: unknown field (did you mean "timeout"?)`}},
		{"bad values", head + "  fault:\n    builtin: seel\n  symptom:\n    - vault: unseald\n  recovery:\n    run: x\n  verify: []\n",
			[]string{`line 7: spec.fault.builtin: unknown fault "seel" (did you mean "seal"?)`,
				`line 9: spec.symptom[0].vault: must be "unsealed", "sealed" or "same-cluster-id" (got "unseald") (did you mean "unsealed"?)`,
				`line 12: spec.verify: list at least one probe`}},
		{"parameters", head + "  fault:\n    builtin: revoke-lease\n    vm: vm-0\n  symptom:\n    - creds: webapp\n      creds2: x\n  recovery:\n    builtin: true\n  verify:\n    - connects: webapp\n",
			[]string{"spec.symptom[0].creds2: unknown field"}},
		{"missing parameter", head + "  fault:\n    builtin: revoke-lease\n    vm: vm-0\n  symptom:\n    - creds: webapp\n  recovery:\n    builtin: true\n  verify:\n    - connects: webapp\n",
			[]string{"line 7: spec.fault.app: fault revoke-lease needs its app", "line 8: spec.fault.vm: fault revoke-lease takes no vm"}},
		{"two checks in a probe", head + "  fault:\n    builtin: seal\n  symptom:\n    - vault: sealed\n      creds: webapp\n  recovery:\n    builtin: true\n  verify:\n    - vault: unsealed\n",
			[]string{"line 9: spec.symptom[0]: names 2 checks (vault, creds)"}},
		{"command fault without rollback", head + "  fault:\n    run: docker stop x\n  symptom:\n    - vault: sealed\n  recovery:\n    run: ./fix.sh\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.rollback: a fault that is a command needs rollback.run"}},
		{"builtin recovery of a command", head + "  fault:\n    run: x\n  symptom:\n    - vault: sealed\n  recovery:\n    builtin: true\n  rollback:\n    run: y\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.recovery.builtin: only a built-in fault has a built-in recovery"}},
		{"timeouts", head + "  steady:\n    - vault: unsealed\n      timeout: 3s\n" + strings.TrimPrefix(good, head),
			[]string{"spec.steady[0].timeout: only verify's probes have a timeout"}},
		{"bad regexp", head + "  fault:\n    builtin: seal\n  symptom:\n    - sql:\n        query: select 1\n        output: '('\n  recovery:\n    builtin: true\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.symptom[0].sql.output: is not a regular expression"}},
		{"change and fault", head + "  fault:\n    builtin: seal\n  change:\n    builtin: vault-upgrade\n    to: labsbx.local/vault:1.21.0\n  verify:\n    - vault: unsealed\n",
			[]string{"line 9: spec.change: a drill has a fault or a change, not both"}},
		{"unknown change", head + "  change:\n    builtin: vault-upgrad\n  verify:\n    - vault: unsealed\n",
			[]string{`line 7: spec.change.builtin: unknown change "vault-upgrad" (did you mean "vault-upgrade"?)`}},
		{"upgrade without to", head + "  change:\n    builtin: vault-upgrade\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.change.to: change vault-upgrade needs to: the Vault image"}},
		{"upgrade to a bad image", head + "  change:\n    builtin: vault-upgrade\n    to: Not An Image\n  verify:\n    - vault: unsealed\n",
			[]string{`line 8: spec.change.to: "Not An Image" is not a valid image reference`}},
		{"empty change", head + "  change: {}\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.change: name a built-in change (builtin: vault-upgrade, with to:) or give a command (run:)"}},
		{"change with both", head + "  change:\n    builtin: vault-upgrade\n    to: labsbx.local/vault:1.21.0\n    run: x\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.change: has both builtin and run"}},
		{"command change without rollback", head + "  change:\n    run: ./change.sh\n    to: x\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.rollback: a change that is a command needs rollback.run", "spec.change.to: belongs to a built-in change"}},
		{"builtin recovery of a command change", head + "  change:\n    run: ./change.sh\n  recovery:\n    builtin: true\n  rollback:\n    builtin: true\n  verify:\n    - vault: unsealed\n",
			[]string{"spec.recovery.builtin: only a built-in change has a built-in recovery", "spec.rollback.builtin: only a built-in change has a built-in rollback"}},
		{"misspelt change field", head + "  change:\n    builtin: vault-upgrade\n    too: labsbx.local/vault:1.21.0\n  verify:\n    - vault: unsealed\n",
			[]string{`spec.change.too: unknown field (did you mean "to"?)`}},
		{"version", strings.Replace(good, "v1alpha1", "v2", 1), []string{`apiVersion: must be "labsbx.dev/v1alpha1"`}},
		{"empty", "", []string{"is empty; start with apiVersion: labsbx.dev/v1alpha1 and kind: Drill"}},
	} {
		_, err := Parse("d.yaml", []byte(tc.doc))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid drill file d.yaml:") {
			t.Errorf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, w, err)
			}
		}
	}
	if _, err := Parse("d.yaml", []byte(good)); err != nil {
		t.Errorf("good: %v", err)
	}
}

// A drill file that names production in any command, probe or script it names is
// refused by the guard, before anything runs.
func TestHostileDrillFilesAreRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("prod-unseal.sh", "#!/bin/sh\nvault operator unseal $(jq -r .unseal_keys_b64[0] ~/.arcodange/cluster-keys.json)\n")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("sub/prod.sh", "curl https://vault.lab:8200/v1/sys/health\n")
	for _, tc := range []struct{ name, doc, want string }{
		{"recovery names the key", strings.Replace(good, "    builtin: true\n", "    run: cat ~/.arcodange/cluster-keys.json\n", 1), ".arcodange"},
		{"script names the key", strings.Replace(good, "    builtin: true\n", "    run: ./prod-unseal.sh\n", 1), "script ./prod-unseal.sh"},
		{"script in a sub dir", strings.Replace(good, "    builtin: true\n", "    run: sh sub/prod.sh\n", 1), "vault.lab:8200"},
		{"manual step names the key", strings.Replace(good, "    builtin: true\n", "    manual: unseal with the key in ~/.arcodange\n", 1), ".arcodange"},
		{"command probe", strings.Replace(good, "    - vault: unsealed\n", "    - command:\n        run: VAULT_ADDR=https://vault.lab vault status\n", 1), "sets VAULT_ADDR"},
		{"http probe", strings.Replace(good, "    - vault: unsealed\n", "    - http:\n        url: https://vault.lab:8200/v1/sys/health\n        status: 200\n", 1), "vault.lab:8200"},
		{"fault command", head + "  fault:\n    run: kubectl --context prod delete pod vault-0\n  symptom:\n    - vault: sealed\n  recovery:\n    manual: unseal it\n  rollback:\n    run: x\n  verify:\n    - vault: unsealed\n", "--context"},
		{"rollback", strings.Replace(good, "  verify:", "  rollback:\n    run: PGHOST=db.lab psql -f fix.sql\n  verify:", 1), "sets PGHOST"},
	} {
		_, err := Load(write(tc.name+".yaml", tc.doc))
		if !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal naming %q", tc.name, err, tc.want)
		}
	}
}

// Loopback URLs are kept to be matched against the sandbox's endpoints at run time.
func TestLoopbackURLsAreKept(t *testing.T) {
	d, err := Parse("d.yaml", []byte(strings.Replace(good, "    - vault: unsealed\n", "    - http:\n        url: http://127.0.0.1:8200/v1/sys/health\n        status: 200\n    - http:\n        url: $VAULT_ADDR/v1/sys/health\n        status: 200\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.URLs) != 1 || d.URLs[0].URL != "http://127.0.0.1:8200/v1/sys/health" || d.URLs[0].Field != "spec.verify[0].http.url" {
		t.Errorf("URLs = %+v", d.URLs)
	}
}

func TestLoadAllRefusesTwoDrillsOfOneName(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.yaml", "b.yml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadAll([]string{dir}); err == nil || !strings.Contains(err.Error(), `drill "d" is in both`) {
		t.Errorf("LoadAll: %v", err)
	}
	if _, err := LoadAll([]string{t.TempDir()}); !errors.Is(err, ErrNotADrill) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadAll([]string{"/dev/zero"}); err == nil {
		t.Error("/dev/zero read as a drill file")
	}
}

// The README's drill file is a valid drill file, so that the documentation of the
// format stays true.
func TestREADMEDrillFileParses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "### Drill files")
	if !ok {
		t.Fatal("README has no drill files section")
	}
	_, block, ok := strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatal("README's drill files section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	d, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, p := range append(append(d.Spec.Steady, d.Spec.Symptom...), d.Spec.Verify...) {
		kinds[p.Kind()] = true
	}
	for _, k := range []string{"vault", "creds", "connects", "kv", "http", "sql", "command"} {
		if !kinds[k] {
			t.Errorf("README's drill file shows no %s probe", k)
		}
	}
}

// A change replaces the fault: no symptom or recovery needed, and its shape is
// reported as what the drill does.
func TestParseChange(t *testing.T) {
	d, err := Parse("d.yaml", []byte(head+"  change:\n    builtin: vault-upgrade\n    to: labsbx.local/vault:1.21.0\n  verify:\n    - vault: unsealed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.What(); got != "change vault-upgrade to labsbx.local/vault:1.21.0" {
		t.Errorf("What = %q", got)
	}
	if got := d.Spec.RecoveryKind(); got != "builtin" {
		t.Errorf("RecoveryKind = %q", got)
	}
	d, err = Parse("d.yaml", []byte(head+"  change:\n    run: ./change.sh apply\n    timeout: 30s\n  rollback:\n    run: ./change.sh rollback\n  verify:\n    - vault: unsealed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.RecoveryKind(); got != "none" {
		t.Errorf("RecoveryKind of a command change = %q", got)
	}
	var fields []string
	for _, c := range d.commands() {
		fields = append(fields, c.field)
	}
	if !slices.Contains(fields, "spec.change.run") {
		t.Errorf("the change's command is not judged by the guard: %v", fields)
	}
	if _, err := Parse("d.yaml", []byte(head+"  change:\n    run: cat ~/.arcodange/cluster-keys.json\n  rollback:\n    run: ./undo.sh\n  verify:\n    - vault: unsealed\n")); !errors.Is(err, guard.ErrRefused) {
		t.Errorf("a change that reads production's key file: %v, want a refusal", err)
	}
}
