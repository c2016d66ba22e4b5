package builtin_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/sandboxtest"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/catalogue"
	"github.com/arcodange/labsbx/scenarios/report"
)

func TestIntegrationDrillsVaultProfile(t *testing.T) {
	conf := sandboxtest.Up(t, "it-drills")
	rep, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: "it-drills", Scenarios: []string{"seal", "lost-lease", "broken-rotation", "full-restart"}, Timeout: time.Minute}).Run(context.Background())
	if err != nil {
		t.Fatalf("drills: %v", err)
	}
	if len(rep.Scenarios) != 5 || rep.Result != report.ResultPassed {
		t.Fatalf("report: %d scenarios, result %s", len(rep.Scenarios), rep.Result)
	}
	for _, s := range rep.Scenarios {
		if s.TimeToDetectMs <= 0 && s.Name != "lost-lease" {
			t.Errorf("%s: time to detect %d ms", s.Name, s.TimeToDetectMs)
		}
		if s.Name == "broken-rotation/grant" {
			// Without CREATEROLE, Vault cannot renew a Postgres lease either.
			found := false
			for _, m := range s.Milestones {
				found = found || strings.HasPrefix(m.Name, "renewing the existing lease fails too")
			}
			if !found {
				t.Errorf("broken-rotation/grant: no milestone for the blocked renewal in %+v", s.Milestones)
			}
		}
		if s.Name == "full-restart" {
			var got []string
			for _, m := range s.Milestones {
				got = append(got, m.Name)
			}
			want := []string{"postgres up", "vault up (sealed)", "vault unsealed", "credentials issued", "consumer connected"}
			if !subsequence(got, want) {
				t.Errorf("full-restart milestones %v, want %v in that order", got, want)
			}
		}
	}
	j, _ := rep.JSON()
	if err := report.Validate(j); err != nil {
		t.Error(err)
	}
}

// promptWatcher stands in for the person at the terminal: when the runbook step is
// printed, it does what the step says.
type promptWatcher struct {
	once sync.Once
	act  func()
	mu   sync.Mutex
	text strings.Builder
}

func (p *promptWatcher) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.text.Write(b)
	p.mu.Unlock()
	p.once.Do(func() { go p.act() })
	return len(b), nil
}

func TestIntegrationManualRecovery(t *testing.T) {
	conf := sandboxtest.Up(t, "it-manual")
	ctx := context.Background()
	person := &promptWatcher{act: func() {
		time.Sleep(300 * time.Millisecond) // reading the runbook
		s, err := conf.OpenVault(ctx, "it-manual")
		if err == nil {
			_, err = s.Unseal(ctx)
		}
		if err != nil {
			t.Errorf("the person's unseal: %v", err)
		}
	}}
	rep, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: "it-manual", Scenarios: []string{"seal"}, Manual: true, Timeout: 30 * time.Second, Prompt: person}).Run(ctx)
	if err != nil {
		t.Fatalf("manual drill: %v", err)
	}
	if !strings.Contains(person.text.String(), "labsbx vault unseal --name it-manual") {
		t.Errorf("runbook prompt: %q", person.text.String())
	}
	if r := rep.Scenarios[0]; r.TimeToRecoverMs < 300 {
		t.Errorf("time to recover %d ms includes the person's 300 ms", r.TimeToRecoverMs)
	}
}

// BenchmarkScenarios reports each scenario's total on the vault profile (targets: seal
// and lost-lease under 5 s).
func BenchmarkScenarios(b *testing.B) {
	conf := sandboxtest.Up(b, "bench-drills")
	for _, name := range []string{"seal", "lost-lease", "broken-rotation/grant", "broken-rotation/role", "full-restart"} {
		b.Run(name, func(b *testing.B) {
			var total, detect, recov int64
			for i := 0; i < b.N; i++ {
				rep, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: "bench-drills", Scenarios: []string{name}, Timeout: time.Minute}).Run(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				s := rep.Scenarios[0]
				total, detect, recov = total+s.TotalMs, detect+s.TimeToDetectMs, recov+s.TimeToRecoverMs
			}
			n := float64(b.N)
			b.ReportMetric(float64(total)/n, "ms-total")
			b.ReportMetric(float64(detect)/n, "ms-detect")
			b.ReportMetric(float64(recov)/n, "ms-recover")
		})
	}
}

// BenchmarkVMNodeLoss runs the vm-node-loss drill b.N times on a vault-profile sandbox
// with one VM and reports the medians of the time to detect (SSH refused), the time to
// recover (from the power cut to SSH-ready with the marker file intact) and the total.
// `go tool task bench` runs it with -benchtime 5x; the VM image must be cached (go
// tool task vmimage).
func BenchmarkVMNodeLoss(b *testing.B) {
	const name = "bench-vmloss"
	conf, cfg := sandboxtest.New(b, name)
	cfg.Spec.VMs.Count = 1
	ctx := context.Background()
	if _, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx); err != nil {
		b.Fatalf("up --vms 1: %v", err)
	}
	var total, detect, recov []time.Duration
	b.ResetTimer()
	for range b.N {
		rep, err := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{Name: name, Scenarios: []string{"vm-node-loss"}, Timeout: 10 * time.Minute}).Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s := rep.Scenarios[0]
		if s.Result != report.ResultPassed {
			b.Fatalf("vm-node-loss: %s: %s", s.Result, s.Error)
		}
		total = append(total, time.Duration(s.TotalMs)*time.Millisecond)
		detect = append(detect, time.Duration(s.TimeToDetectMs)*time.Millisecond)
		recov = append(recov, time.Duration(s.TimeToRecoverMs)*time.Millisecond)
		b.Logf("vm-node-loss: detected in %d ms, recovered in %d ms, %d ms in all", s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs)
	}
	b.ReportMetric(testenv.Median(detect).Seconds(), "s-detect")
	b.ReportMetric(testenv.Median(recov).Seconds(), "s-recover")
	b.ReportMetric(testenv.Median(total).Seconds(), "s-total")
}

// subsequence reports whether want appears in got in order, not necessarily adjacent.
func subsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
