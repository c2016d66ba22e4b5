package builtin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/internal/goldenfile"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/report"
)

// allowed lists the cells the matrix expects Vault to allow, as "identity app target
// operation path".
func allowed(cells []cell) []string {
	var out []string
	for _, c := range cells {
		if c.expect {
			ch := c.check()
			out = append(out, strings.Join([]string{ch.Identity, ch.App, ch.Target, ch.Operation, ch.Path}, " "))
		}
	}
	return out
}

// The layout grants each identity a few of its own paths and nothing of another app's.
func TestMatrixExpectations(t *testing.T) {
	cells := matrix([]string{"webapp", "billing"})
	// Per app: 2 identities × 2 targets × the requests, the own CI login and the refused ones.
	if want := 2 * (2*2*len(requests) + 1 + len(refusedLogins)); len(cells) != want {
		t.Fatalf("%d cells, want %d", len(cells), want)
	}
	want := []string{
		"runtime webapp webapp read kvv2/data/webapp/config",
		"runtime webapp webapp encrypt transit/encrypt/webapp",
		"runtime webapp webapp read postgres/creds/webapp",
		"ci webapp webapp login auth/jwt/login (role gitea_cicd_webapp)",
		"ci webapp webapp read kvv2/data/webapp/config",
		"ci webapp webapp write kvv2/data/webapp/labsbx-probe",
		"runtime billing billing read kvv2/data/billing/config",
		"runtime billing billing encrypt transit/encrypt/billing",
		"runtime billing billing read postgres/creds/billing",
		"ci billing billing login auth/jwt/login (role gitea_cicd_billing)",
		"ci billing billing read kvv2/data/billing/config",
		"ci billing billing write kvv2/data/billing/labsbx-probe",
	}
	if got := allowed(cells); !slices.Equal(got, want) {
		t.Errorf("allowed cells:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	seen := map[string]bool{}
	for _, c := range cells {
		if c.target != c.app && c.expect {
			t.Errorf("%s: another app's path expected allowed", c.check())
		}
		if c.request == nil && c.login == loginOtherRepo && c.target != map[string]string{"webapp": "billing", "billing": "webapp"}[c.app] {
			t.Errorf("%s: the other repository is %s's", c.check(), c.target)
		}
		key := fmt.Sprint(c.identity, c.app, c.target, c.login, c.path, c.request != nil && c.request.write)
		if seen[key] {
			t.Errorf("cell twice: %s", c.check())
		}
		seen[key] = true
	}
	for _, target := range []string{"webapp", "billing"} {
		for _, id := range []string{report.IdentityRuntime, report.IdentityCI} {
			n := 0
			for _, c := range cells {
				if c.app == "webapp" && c.identity == id && c.target == target && c.request != nil {
					n++
				}
			}
			if n != len(requests) {
				t.Errorf("%s of webapp on %s: %d requests, want %d", id, target, n, len(requests))
			}
		}
	}
}

// Alone, an app still has its own cells, and the refused repository is of no app.
func TestMatrixOneApp(t *testing.T) {
	cells := matrix([]string{"webapp"})
	if want := 2*len(requests) + 1 + len(refusedLogins); len(cells) != want {
		t.Fatalf("%d cells, want %d", len(cells), want)
	}
	if got := len(allowed(cells)); got != 6 {
		t.Errorf("%d allowed cells, want 6", got)
	}
	for _, c := range cells {
		if c.login == loginOtherRepo && c.target != "webapp-other" {
			t.Errorf("other repository %q", c.target)
		}
	}
	if got := otherRepoApp([]string{"webapp", "webapp-other"}[:1], "webapp"); got != "webapp-other" {
		t.Errorf("otherRepoApp = %s", got)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err         error
		got, detail string
	}{
		{nil, report.Allow, "answered"},
		{&api.ResponseError{StatusCode: 403}, report.Deny, "HTTP 403"},
		{fmt.Errorf("read: %w", &api.ResponseError{StatusCode: 403}), report.Deny, "HTTP 403"},
		{&api.ResponseError{StatusCode: 405}, report.Allow, "HTTP 405"},
		{&api.ResponseError{StatusCode: 400}, report.Allow, "HTTP 400"},
		{&api.ResponseError{StatusCode: 503}, report.Errored, "HTTP 503"},
		{errors.New("dial tcp: connection refused"), report.Errored, "no answer: dial tcp: connection refused"},
	} {
		if got, detail := classify(c.err); got != c.got || detail != c.detail {
			t.Errorf("classify(%v) = %s, %s; want %s, %s", c.err, got, detail, c.got, c.detail)
		}
	}
}

// A report with a matrix: the checks in report.json (valid against the schema), a
// table in report.md, and every failed cell named in junit.xml's failure.
func TestReportChecksRendering(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	var checks []report.Check
	all := matrix([]string{"webapp", "billing"})
	// Runtime cells on webapp's and billing's paths, the CI login and a request, and
	// the refused logins.
	some := slices.Concat(all[:10], all[16:18], all[33:37])
	for i, c := range some {
		ch := c.check()
		ch.Got, ch.Detail, ch.DurationMs = ch.Expected, "HTTP 403", 0.5+float64(i)/8
		switch {
		case c.request == nil && ch.Got == report.Allow:
			ch.Detail = "token issued"
		case c.request == nil:
			ch.Detail = "HTTP 400"
		case ch.Got == report.Allow:
			ch.Detail = "answered"
		}
		ch.Pass = true
		checks = append(checks, ch)
	}
	// A loosened policy: the runtime token of webapp reads billing's config.
	checks[8].Got, checks[8].Detail, checks[8].Pass = report.Allow, "answered", false
	checks[11].Got, checks[11].Detail, checks[11].Pass = report.Errored, "HTTP 503", false
	checks[15].Got, checks[15].Detail, checks[15].Pass = report.Allow, "token issued", false
	s := report.ScenarioResult{Name: "policy-isolation", Description: (&policyIsolation{}).Description(), Result: report.ResultFailed,
		FailedPhase: scenarios.PhaseVerify, Error: "3 of 16 checks failed: " + checks[8].String() + "; " + checks[11].String() + "; " + checks[15].String(),
		StartedAt: t0, FinishedAt: t0.Add(180 * time.Millisecond), TotalMs: 180, Checks: checks}
	for i, p := range []string{scenarios.PhaseSteady, scenarios.PhaseInject, scenarios.PhaseObserve, scenarios.PhaseRecover} {
		s.Phases = append(s.Phases, report.PhaseResult{Name: p, StartedAt: t0.Add(time.Duration(i) * 10 * time.Millisecond), DurationMs: 5, Result: report.ResultPassed})
	}
	s.Phases = append(s.Phases, report.PhaseResult{Name: scenarios.PhaseVerify, StartedAt: t0.Add(40 * time.Millisecond), DurationMs: 140, Result: report.ResultFailed, Error: s.Error})
	s.Milestones = []report.MilestoneOffset{{Name: "drill started", At: t0}, {Name: "probing the policies", At: t0.Add(45 * time.Millisecond), OffsetMs: 45},
		{Name: "16 checks made", At: t0.Add(170 * time.Millisecond), OffsetMs: 170}}
	rep := &report.Report{SchemaVersion: report.SchemaVersion, Sandbox: "golden", Profile: "vault", LabsbxVersion: "dev", VaultVersion: "1.21.0",
		StartedAt: t0, FinishedAt: t0.Add(200 * time.Millisecond), DurationMs: 200, Result: report.ResultFailed, Scenarios: []report.ScenarioResult{s}}

	j, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Validate(j); err != nil {
		t.Fatalf("report.json does not match its schema: %v", err)
	}
	bad := strings.Replace(string(j), `"got": "allow"`, `"got": "maybe"`, 1)
	if err := report.Validate([]byte(bad)); err == nil {
		t.Error("the schema accepted an unknown outcome")
	}
	x, err := rep.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	goldenfile.Assert(t, "policy-isolation/report.json", j)
	goldenfile.Assert(t, "policy-isolation/junit.xml", x)
	goldenfile.Assert(t, "policy-isolation/report.md", []byte(md))
	for _, want := range []string{
		`message="verify: 3 of 16 checks failed: runtime token of webapp: read kvv2/data/billing/config: expected deny, got allow; CI token of webapp: read kvv2/data/webapp/config: expected allow, got error; CI of webapp: login: another signing key auth/jwt/login (role gitea_cicd_webapp): expected deny, got allow"`,
	} {
		if !strings.Contains(string(x), want) {
			t.Errorf("junit.xml lacks %q", want)
		}
	}
	if !strings.Contains(md, "| runtime | webapp | billing | read | `kvv2/data/billing/config` | deny | allow (answered) |") {
		t.Errorf("report.md lacks the failed cell's row")
	}
}
