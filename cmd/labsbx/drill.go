package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/catalogue"
	"github.com/arcodange/labsbx/scenarios/drillfile"
	"github.com/arcodange/labsbx/scenarios/filedrill"
	"github.com/arcodange/labsbx/scenarios/report"
)

func newDrillCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Break the sandbox on purpose and time the recovery",
		Args:  noArgs,
	}
	cmd.AddCommand(newDrillListCmd(g), newDrillRunCmd(g), newDrillValidateCmd(g), newDrillRecoverCmd(g))
	return cmd
}

func newDrillListCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "list [-f FILE|DIR]...",
		Short: "List the built-in drills, and the drill files given with -f",
		Args:  noArgs,
		Example: `  labsbx drill list
  labsbx drill list -f examples/drills/`,
		RunE: func(*cobra.Command, []string) error {
			type row struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				Source      string `json:"source"`
			}
			var rows []row
			for _, s := range catalogue.Drills().All() {
				rows = append(rows, row{s.Name(), s.Description(), "built-in"})
			}
			ds, err := loadDrillFiles(files)
			if err != nil {
				return err
			}
			for _, d := range ds {
				s := filedrill.New(d)
				rows = append(rows, row{s.Name(), s.Description(), d.Source})
			}
			return g.print(rows, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SCENARIO\tSOURCE\tWHAT BREAKS")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Source, r.Description)
				}
				if groups := catalogue.Drills().Groups(); len(groups) > 0 {
					fmt.Fprintln(tw)
					for _, gr := range groups {
						fmt.Fprintln(tw, gr)
					}
				}
				return tw.Flush()
			})
		},
	}
	addDrillFileFlag(cmd, &files)
	return cmd
}

// loadDrillFiles reads the drill files and directories given with -f. A file that
// cannot be read or is invalid is a usage error (exit 2), a refused one stays a
// refusal (exit 3), and a drill may not take the name of a built-in drill or group:
// `drill run <name>` would run the built-in, never the file.
func loadDrillFiles(files []string) ([]*drillfile.Drill, error) {
	ds, err := drillfile.LoadAll(files)
	if err != nil {
		return nil, &usageError{err}
	}
	builtin := map[string]bool{}
	for _, s := range catalogue.Drills().All() {
		builtin[s.Name()] = true
	}
	for _, gr := range catalogue.Drills().Groups() {
		builtin[gr.Name] = true
	}
	for _, d := range ds {
		if builtin[d.Metadata.Name] {
			return nil, usagef("%s: drill %q has the name of a built-in drill; give it another metadata.name", d.Source, d.Metadata.Name)
		}
	}
	return ds, nil
}

// addDrillFileFlag is -f, --file: drill files, or directories of them.
func addDrillFileFlag(cmd *cobra.Command, files *[]string) {
	cmd.Flags().StringArrayVarP(files, "file", "f", nil, "a drill file (apiVersion labsbx.dev/v1alpha1, kind Drill), or a directory of them; repeatable")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
}

func newDrillValidateCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR...",
		Short: "Check drill files: their fields (with line and suggestion) and, through the guard, their commands",
		Long: `Check drill files without a sandbox: every unknown or misspelt field with its path and
line, every value out of range, and every command the guard refuses (one that names
~/.arcodange, a cluster-keys.json, or a Vault, cluster or database that is not the
sandbox's). The sandbox's apps, VMs and endpoints are checked when the drill runs.

Exit status: 0 when every file is valid, 2 when one is not, 3 when the guard refused one.`,
		Example: `  labsbx drill validate -f examples/drills/unseal-runbook.yaml
  labsbx drill validate -f examples/drills/`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if len(files) == 0 {
				return usagef("give drill files with -f")
			}
			ds, err := loadDrillFiles(files)
			if err != nil {
				return err
			}
			type row struct {
				Name     string `json:"name"`
				Source   string `json:"source"`
				Fault    string `json:"fault,omitempty"`
				Change   string `json:"change,omitempty"`
				Recovery string `json:"recovery"`
			}
			rows := []row{}
			for _, d := range ds {
				r := row{Name: d.Metadata.Name, Source: d.Source, Recovery: d.Spec.RecoveryKind()}
				if c := d.Spec.Change; c != nil {
					r.Change = c.String()
				} else {
					r.Fault = d.Spec.Fault.String()
				}
				rows = append(rows, r)
			}
			return g.print(rows, func(w io.Writer) error {
				for _, r := range rows {
					what := "fault " + r.Fault
					if r.Change != "" {
						what = "change " + r.Change
					}
					fmt.Fprintf(w, "%s: drill %q is valid (%s, recovery %s)\n", r.Source, r.Name, what, r.Recovery)
				}
				return nil
			})
		},
	}
	addDrillFileFlag(cmd, &files)
	return cmd
}

func newDrillRunCmd(g *globals) *cobra.Command {
	var (
		all, manual, noRecover, shuffle bool
		reportDir, to                   string
		timeout                         time.Duration
		files                           []string
		repeat                          int
		seed                            int64
	)
	cmd := &cobra.Command{
		Use:   "run <scenario>... | -f FILE... | --all",
		Short: "Run drill scenarios: steady state, inject, observe, recover, verify; write JSON, JUnit and Markdown reports",
		Long: `Run drill scenarios against the sandbox and time detection and recovery.

Each scenario checks the steady state, injects its fault (recorded in the sandbox
state first), waits for the expected symptom, recovers and verifies the steady state
again. With --manual labsbx prints the runbook step and waits for you to perform it.
With --no-recover the fault stays and verification fails; undo it with
'labsbx drill recover'.

-f runs drill files: the lab's own runbooks as drills (see examples/drills/ and
'labsbx drill validate'). Their commands run in the file's directory with an
environment that holds only the sandbox's endpoints (VAULT_ADDR, PG*, KUBECONFIG on
the full profile, LABSBX_UNSEAL_KEY_FILE in the shape of cluster-keys.json, and
VAULT_TOKEN only when the file sets spec.env.vaultToken). A script is your own code:
the guard refuses one that names production, but cannot sandbox what it does.

vault-upgrade is a change, not a failure: it upgrades the sandbox's Vault to the
image --to names (a new container on the same volume; on the full profile a helm
upgrade that rolls Vault's pod on the same claim), proves the evidence it wrote
before survived, and reports both versions and the unavailability window. --all never runs it. A failed
upgrade is rolled back by 'labsbx drill recover' (the pre-change backup, restored onto
the old image: Vault does not support downgrades).

--repeat N runs the whole list N times (a game day), --shuffle in an order drawn
from --seed, and the report gives each drill's pass count and min/median/max times.

Exit status: 0 when every scenario verified, 4 when one did not, 3 when the guard
refused.`,
		Example: `  labsbx drill run seal
  labsbx drill run --all --report-dir reports/
  labsbx drill run full-restart --manual
  labsbx drill run -f examples/drills/unseal-runbook.yaml
  labsbx drill run seal lost-lease -f examples/drills/ --repeat 5 --shuffle --seed 42
  labsbx drill run vault-upgrade --to labsbx.local/vault:1.21.1`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, gr := range catalogue.Drills().Groups() {
				names = append(names, gr.Name)
			}
			for _, s := range catalogue.Drills().All() {
				names = append(names, s.Name())
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usagef("give scenario names or --all, not both")
			case !all && len(args) == 0 && len(files) == 0:
				return usagef("name a scenario, give drill files with -f, or use --all (see 'labsbx drill list')")
			case repeat < 1:
				return usagef("--repeat must be at least 1, got %d", repeat)
			case timeout < 0:
				return usagef("--timeout must not be negative, got %s", timeout)
			case (shuffle || cmd.Flags().Changed("seed")) && repeat < 2 && len(args)+len(files) < 2 && !all:
				return usagef("--shuffle and --seed order several drills or rounds; give more than one, or --repeat N")
			}
			if cmd.Flags().Changed("seed") {
				shuffle = true
			} else if shuffle {
				seed = time.Now().UnixNano() % 1_000_000
			}
			// --all: the engine adds every scenario that applies to the sandbox
			// (vm-node-loss only where there are VMs).
			names := args
			named, err := catalogue.Drills().Lookup(names)
			if err != nil {
				return &usageError{err}
			}
			if err := scenarios.ApplyTarget(named, to); err != nil {
				return &usageError{err}
			}
			ds, err := loadDrillFiles(files)
			if err != nil {
				return err
			}
			conf, err := g.configuration()
			if err != nil {
				return err
			}
			// The report dir is judged before anything runs.
			var rd *report.Dir
			if reportDir != "" {
				if rd, err = report.ApproveDir(reportDir, conf.WriteScope()); err != nil {
					return err
				}
			}
			var configTimeout time.Duration
			if cfg, err := g.loadConfig(); err == nil {
				configTimeout = cfg.Spec.Drills.Timeout.Duration
			}
			rep, runErr := scenarios.NewDrill(conf, catalogue.Drills(), scenarios.Options{
				Name: g.name, Scenarios: names, All: all, Manual: manual, NoRecover: noRecover, Timeout: timeout, ConfigTimeout: configTimeout,
				Prompt: g.stderr, Version: currentVersion().Version,
				Files: filedrill.NewAll(ds), Repeat: repeat, Shuffle: shuffle, Seed: seed, To: to,
			}).Run(cmd.Context())
			if rep == nil {
				return runErr
			}
			if rd != nil {
				if err := rd.Write(rep); err != nil {
					return errors.Join(runErr, err)
				}
				g.status().Infof("Reports written to %s (report.json, junit.xml, report.md)", reportDir)
			}
			if err := g.print(rep, func(w io.Writer) error { drillSummaryText(w, rep); return nil }); err != nil {
				return err
			}
			if noRecover && runErr != nil {
				g.status().Infof("The fault is still in place: undo it with 'labsbx drill recover --name %s'.", g.name)
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "run every scenario that applies to the sandbox (vm-node-loss needs VMs)")
	f.StringVar(&reportDir, "report-dir", "", "write report.json, junit.xml and report.md here")
	f.BoolVar(&manual, "manual", false, "at the recover phase, print the runbook step and wait for a person to do it")
	f.BoolVar(&noRecover, "no-recover", false, "leave the fault in place (verification then fails)")
	f.DurationVar(&timeout, "timeout", 0, "deadline of each waiting phase (default: spec.drills.timeout)")
	f.IntVar(&repeat, "repeat", 1, "run the whole list N times (a game day); the report summarises each drill over the rounds")
	f.BoolVar(&shuffle, "shuffle", false, "run each round in a random order (printed, and kept in the report as its seed)")
	f.Int64Var(&seed, "seed", 0, "the shuffled order's seed, to replay a game day (implies --shuffle)")
	f.StringVar(&to, "to", "", "what a change drill changes to (vault-upgrade: the Vault image to upgrade to, e.g. labsbx.local/vault:1.21.0)")
	addDrillFileFlag(cmd, &files)
	_ = cmd.MarkFlagDirname("report-dir")
	return cmd
}

// runName is a scenario's name, with its round under --repeat ("seal #2").
func runName(s report.ScenarioResult) string {
	if s.Round > 0 {
		return fmt.Sprintf("%s #%d", s.Name, s.Round)
	}
	return s.Name
}

func drillSummaryText(w io.Writer, rep *report.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tDETECT\tRECOVER\tTOTAL\tFAILED PHASE")
	for _, s := range rep.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%dms\t%dms\t%dms\t%s\n", runName(s), s.Result, s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs, s.FailedPhase)
	}
	_ = tw.Flush()
	for _, s := range rep.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(w, "%s: %s: %s\n", runName(s), s.FailedPhase, s.Error)
		}
	}
	if len(rep.Summary) > 0 {
		order := "in the order given"
		if rep.Shuffle {
			order = fmt.Sprintf("shuffled, --seed %d", rep.Seed)
		}
		fmt.Fprintf(w, "\nGame day: %d rounds, %s\n", rep.Repeat, order)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DRILL\tPASSED\tDETECT MIN/MEDIAN/MAX\tRECOVER MIN/MEDIAN/MAX")
		for _, s := range rep.Summary {
			fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d/%dms\t%d/%d/%dms\n", s.Name, s.Passed, s.Runs,
				s.Detect.Min, s.Detect.Median, s.Detect.Max, s.Recover.Min, s.Recover.Median, s.Recover.Max)
		}
		_ = tw.Flush()
	}
}

func newDrillRecoverCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "recover",
		Short: "Undo the faults that an interrupted drill left in the sandbox, and say what was done",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conf, err := g.configuration()
			if err != nil {
				return err
			}
			done, err := scenarios.Recover(cmd.Context(), conf, catalogue.Drills(), g.name)
			if done == nil {
				done = []scenarios.Recovered{}
			}
			res := struct {
				Recovered []scenarios.Recovered `json:"recovered"`
			}{done}
			if perr := g.print(res, func(w io.Writer) error {
				for _, d := range done {
					fmt.Fprintf(w, "%s: %s\n", d.Scenario, d.Action)
				}
				if err == nil && len(done) == 0 {
					fmt.Fprintf(w, "Sandbox %q has no pending drill fault.\n", g.name)
				}
				return nil
			}); perr != nil {
				return perr
			}
			return err
		},
	}
}
