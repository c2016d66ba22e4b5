package builtin_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/sandboxtest"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/catalogue"
	"github.com/arcodange/labsbx/scenarios/report"
)

// The policy-isolation drill on a healthy sandbox of two apps passes, and leaves no
// test entry, lease or token behind; once a policy is loosened by hand, with the
// code unchanged, it fails and names the cell.
func TestIntegrationPolicyIsolation(t *testing.T) {
	const name = "it-isolation"
	apps := []string{"webapp", "billing"}
	conf := sandboxtest.Up(t, name, apps...)
	ctx := context.Background()
	sess, err := conf.OpenVault(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	root := sess.Root()
	run := func() (*report.Report, report.ScenarioResult, error) {
		t.Helper()
		rep, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: name, Scenarios: []string{"policy-isolation"}, Timeout: 30 * time.Second}).Run(ctx)
		if rep == nil || len(rep.Scenarios) != 1 {
			t.Fatalf("drill: %v, report %+v", err, rep)
		}
		for _, f := range []func() ([]byte, error){rep.JSON, rep.JUnit, func() ([]byte, error) { return []byte(rep.Markdown()), nil }} {
			b, err := f()
			if err != nil {
				t.Fatal(err)
			}
			// Vault's tokens start with hvs., JWTs with eyJ; the root token is known.
			for _, secret := range []string{"hvs.", "eyJ", sess.Keys.RootToken} {
				if strings.Contains(string(b), secret) {
					t.Errorf("a report holds a secret (%.4s…)", secret)
				}
			}
		}
		j, _ := rep.JSON()
		if err := report.Validate(j); err != nil {
			t.Error(err)
		}
		return rep, rep.Scenarios[0], err
	}
	leases := func() []string {
		var all []string
		for _, app := range apps {
			s, err := root.Logical().ListWithContext(ctx, "sys/leases/lookup/"+vault.CredsPath(app)+"/")
			if err != nil {
				t.Fatal(err)
			}
			if s != nil {
				for _, k := range s.Data["keys"].([]any) {
					all = append(all, app+"/"+k.(string))
				}
			}
		}
		return all
	}
	tokens := func() int {
		s, err := root.Logical().ListWithContext(ctx, "auth/token/accessors")
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Data["keys"].([]any))
	}
	// Vault finishes a revocation in the background: allow it a few seconds.
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error(what)
				return
			}
		}
	}
	leasesBefore, tokensBefore := leases(), tokens()

	_, s, err := run()
	if err != nil {
		t.Fatalf("drill on a healthy sandbox: %v (%s)", err, s.Error)
	}
	// Per app: 2 identities × 2 targets × 8 requests, its CI login and 4 refused logins.
	if len(s.Checks) != 2*(2*2*8+1+4) {
		t.Errorf("%d checks", len(s.Checks))
	}
	allowed := 0
	for _, c := range s.Checks {
		if !c.Pass {
			t.Errorf("failed cell: %s", c)
		}
		if c.Got == report.Allow {
			allowed++
		}
		if c.DurationMs <= 0 {
			t.Errorf("%s: not timed", c)
		}
	}
	if allowed != 2*6 {
		t.Errorf("%d cells allowed, want 6 per app", allowed)
	}
	for _, app := range apps {
		for _, path := range []string{vault.MountKVv2 + "/data/" + app + "/labsbx-probe", vault.MountKVv1 + "/" + app + "/labsbx-probe"} {
			if s, err := root.Logical().ReadWithContext(ctx, path); err != nil || s != nil {
				t.Errorf("test entry %s left behind (%v)", path, err)
			}
		}
	}
	eventually("the drill left leases behind", func() bool { return slices.Equal(leases(), leasesBefore) })
	eventually("the drill left tokens behind", func() bool { return tokens() == tokensBefore })

	// Loosen webapp's runtime policy by hand: it may now read billing's KV v2 data.
	hcl, err := root.Sys().GetPolicyWithContext(ctx, vault.RuntimePolicy("webapp"))
	if err != nil {
		t.Fatal(err)
	}
	loose := hcl + "path \"kvv2/data/billing/*\" {\n  capabilities = [\"read\"]\n}\n"
	if err := root.Sys().PutPolicyWithContext(ctx, vault.RuntimePolicy("webapp"), loose); err != nil {
		t.Fatal(err)
	}
	rep, s, err := run()
	if !errors.Is(err, scenarios.ErrVerifyFailed) {
		t.Fatalf("drill with a loosened policy: %v, want a failed verification", err)
	}
	const cellName = "runtime token of webapp: read kvv2/data/billing/config: expected deny, got allow"
	if s.Result != report.ResultFailed || s.FailedPhase != scenarios.PhaseVerify || !strings.Contains(s.Error, cellName) {
		t.Errorf("result %s in %q: %s", s.Result, s.FailedPhase, s.Error)
	}
	var failed []string
	for _, c := range s.Checks {
		if !c.Pass {
			failed = append(failed, c.String())
		}
	}
	if !slices.Equal(failed, []string{cellName}) {
		t.Errorf("failed cells %q, want only %q", failed, cellName)
	}
	if x, _ := rep.JUnit(); !strings.Contains(string(x), cellName) {
		t.Errorf("junit.xml does not name the cell:\n%s", x)
	}
	if md := rep.Markdown(); !strings.Contains(md, "| runtime | webapp | billing | read | `kvv2/data/billing/config` | deny | allow") {
		t.Errorf("report.md has no row for the cell:\n%s", md)
	}
	eventually("the failed drill left tokens behind", func() bool { return tokens() == tokensBefore })

	// The failed verify leaves the drill in the state: drill recover deletes leftovers.
	done, err := scenarios.Recover(ctx, conf, catalogue.Drills(), name)
	if err != nil || len(done) != 1 || done[0].Scenario != "policy-isolation" {
		t.Errorf("drill recover: %+v, %v", done, err)
	}
}
