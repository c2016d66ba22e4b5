package report

import (
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/internal/goldenfile"
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
	got := Summarise(runs)
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

// A game day of a drill file renders in all three reports: rounds, the summary, the
// probes and the runbook's output; report.json matches its schema.
func TestGameDayReportRendering(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	run := func(round int, result string, detect, recover int64) ScenarioResult {
		s := ScenarioResult{Name: "unseal-runbook", Description: "Vault is sealed; the lab's unseal script brings it back", Source: "examples/drills/unseal-runbook.yaml",
			Result: result, Round: round, StartedAt: t0, FinishedAt: t0.Add(time.Second), TimeToDetectMs: detect, TimeToRecoverMs: recover, TotalMs: 1000,
			Probes: []ProbeResult{
				{Phase: "observe", Probe: "vault sealed", Kind: "vault", Pass: true, DurationMs: 2},
				{Phase: "verify", Probe: "creds issue for webapp", Kind: "creds", Pass: result == ResultPassed, DurationMs: 12},
			},
			Output: []CommandOutput{{Phase: "recover", Field: "spec.recovery.run", Command: "./unseal.sh", ExitCode: 0, Output: "{\"sealed\":false,\"progress\":0}\n~~~~\nVault is unsealed and active\n"}},
		}
		for i, p := range []string{"steady-state", "inject", "observe", "recover", "verify"} {
			s.Phases = append(s.Phases, PhaseResult{Name: p, StartedAt: t0.Add(time.Duration(i) * 100 * time.Millisecond), DurationMs: 50, Result: ResultPassed})
		}
		if result != ResultPassed {
			s.FailedPhase, s.Error = "verify", "creds issue for webapp: permission denied"
			s.Phases[4].Result, s.Phases[4].Error = ResultFailed, s.Error
		}
		s.Milestones = []MilestoneOffset{{"drill started", t0, 0}, {"verified: vault unsealed", t0.Add(600 * time.Millisecond), 600}}
		return s
	}
	runs := []ScenarioResult{run(1, ResultPassed, 4, 480), run(2, ResultFailed, 5, 0), run(3, ResultPassed, 6, 420)}
	rep := &Report{SchemaVersion: SchemaVersion, Sandbox: "golden", Profile: "vault", LabsbxVersion: "dev", VaultVersion: "1.21.0",
		StartedAt: t0, FinishedAt: t0.Add(3 * time.Second), DurationMs: 3000, Result: ResultFailed, Scenarios: runs,
		Repeat: 3, Shuffle: true, Seed: 42, Summary: Summarise(runs)}
	j, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(j); err != nil {
		t.Fatalf("report.json does not match its schema: %v", err)
	}
	x, err := rep.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	goldenfile.Assert(t, "gameday/report.json", j)
	goldenfile.Assert(t, "gameday/junit.xml", x)
	goldenfile.Assert(t, "gameday/report.md", []byte(md))
	for _, want := range []string{"| unseal-runbook | 2 of 3 | 4 / 5 / 6 ms | 420 / 450 / 480 ms |", "## unseal-runbook (round 2)", "~~~~\n{\"sealed\":false,\"progress\":0}\n~~~\nVault is unsealed and active\n~~~~"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if !strings.Contains(string(x), `name="unseal-runbook (round 2)"`) {
		t.Error("junit.xml does not name the round")
	}
}
