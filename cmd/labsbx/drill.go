package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/scenarios"
)

func newDrillCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Break the sandbox on purpose and time the recovery",
		Args:  noArgs,
	}
	cmd.AddCommand(newDrillListCmd(g), newDrillRunCmd(g), newDrillRecoverCmd(g))
	return cmd
}

func newDrillListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the drill scenarios",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			type row struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			}
			var rows []row
			for _, s := range scenarios.All() {
				rows = append(rows, row{s.Name(), s.Description()})
			}
			return g.print(rows, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SCENARIO\tWHAT BREAKS")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.Description)
				}
				if groups := scenarios.Groups(); len(groups) > 0 {
					fmt.Fprintln(tw)
					for _, gr := range groups {
						fmt.Fprintln(tw, gr)
					}
				}
				return tw.Flush()
			})
		},
	}
}

func newDrillRunCmd(g *globals) *cobra.Command {
	var (
		all, manual, noRecover bool
		reportDir              string
		timeout                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run <scenario>... | --all",
		Short: "Run drill scenarios: steady state, inject, observe, recover, verify; write JSON, JUnit and Markdown reports",
		Long: `Run drill scenarios against the sandbox and time detection and recovery.

Each scenario checks the steady state, injects its fault (recorded in the sandbox
state first), waits for the expected symptom, recovers and verifies the steady state
again. With --manual labsbx prints the runbook step and waits for you to perform it.
With --no-recover the fault stays and verification fails; undo it with
'labsbx drill recover'.

Exit status: 0 when every scenario verified, 4 when one did not, 3 when the guard
refused.`,
		Example: `  labsbx drill run seal
  labsbx drill run --all --report-dir reports/
  labsbx drill run full-restart --manual`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, gr := range scenarios.Groups() {
				names = append(names, gr.Name)
			}
			for _, s := range scenarios.All() {
				names = append(names, s.Name())
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return usagef("give scenario names or --all, not both")
			case !all && len(args) == 0:
				return usagef("name a scenario or use --all (see 'labsbx drill list')")
			}
			// --all: the engine adds every scenario that applies to the sandbox
			// (vm-node-loss only where there are VMs).
			names := args
			if _, err := scenarios.Lookup(names); err != nil {
				return &usageError{err}
			}
			conf, err := g.configuration()
			if err != nil {
				return err
			}
			// The report dir is judged before anything runs.
			var rd *scenarios.ReportDir
			if reportDir != "" {
				if rd, err = scenarios.ApproveReportDir(reportDir, conf.WriteScope()); err != nil {
					return err
				}
			}
			if timeout == 0 {
				if cfg, err := g.loadConfig(); err == nil {
					timeout = cfg.Spec.Drills.Timeout.Duration
				}
			}
			rep, runErr := scenarios.NewDrill(conf, scenarios.Options{
				Name: g.name, Scenarios: names, All: all, Manual: manual, NoRecover: noRecover, Timeout: timeout,
				Prompt: g.stderr, Version: currentVersion().Version,
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
	_ = cmd.MarkFlagDirname("report-dir")
	return cmd
}

func drillSummaryText(w io.Writer, rep *scenarios.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tDETECT\tRECOVER\tTOTAL\tFAILED PHASE")
	for _, s := range rep.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%dms\t%dms\t%dms\t%s\n", s.Name, s.Result, s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs, s.FailedPhase)
	}
	_ = tw.Flush()
	for _, s := range rep.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(w, "%s: %s: %s\n", s.Name, s.FailedPhase, s.Error)
		}
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
			done, err := scenarios.Recover(cmd.Context(), conf, g.name)
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
