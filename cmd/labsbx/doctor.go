package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
)

func newDoctorCmd(g *globals) *cobra.Command {
	op := sandbox.NewDoctor(g.conf, sandbox.UpOptions{})
	var vms int
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run `labsbx up`, and say how to fix what it lacks",
		Long: `Check what 'labsbx up' needs of this machine, before anything fails halfway: the
Docker engine (that it answers, that it is local, its storage driver), the images
(present, to be pulled, or built locally), disk space, the state root, ports on
127.0.0.1, and with --vms the arm64 VM tools. Each failed check names its fix.

Exit status: 0 when up can run (warnings included), 1 when something it needs is
missing. up runs these checks first and stops with the same fixes.`,
		Example: `  labsbx doctor
  labsbx doctor --profile full -o json
  labsbx doctor --vms 1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.Config = g.name, cfg
			if cmd.Flags().Changed("vms") {
				op.VMs = &vms
			}
			rep, err := op.Run(cmd.Context())
			if rep == nil {
				return err
			}
			if perr := g.print(rep, func(w io.Writer) error { return doctorText(w, rep) }); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&op.Profile, "profile", "", "profile: full or vault (default: spec.profile of the config)")
	cmd.Flags().IntVar(&vms, "vms", 0, "check for this many arm64 VMs too (default: spec.vms.count)")
	cmd.Flags().StringVar(&op.Bundle, "bundle", "", "images will come from this offline bundle")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions([]string{config.ProfileFull, config.ProfileVault}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func doctorText(w io.Writer, rep *sandbox.DoctorReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	for _, c := range rep.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Result, c.Detail)
		if c.Fix != "" && c.Result != sandbox.CheckOK {
			fmt.Fprintf(tw, "\t\t  fix: %s\n", c.Fix)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.OK {
		_, err := fmt.Fprintf(w, "Ready for `labsbx up --profile %s`.\n", rep.Profile)
		return err
	}
	return nil
}
