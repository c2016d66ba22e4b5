package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/internal/cli"
	"github.com/arcodange/labsbx/sandbox"
)

func newDownCmd(g *globals) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove the sandbox: every container, network and volume labelled with its name, and its state",
		Long: `Remove the sandbox named by --name.

down finds the sandbox's Docker objects by their dev.labsbx.sandbox label, so it also
cleans up a half-made sandbox. Running it again is harmless. With --keep-state the
state directory (keys, reports) stays.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conf, err := g.configuration()
			if err != nil {
				return err
			}
			res, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: g.name, KeepState: keep}).Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.out() == cli.OutputJSON {
				return cli.WriteJSON(g.stdout, res)
			}
			n := len(res.Removed.Containers) + len(res.Removed.Volumes) + len(res.Removed.Networks) + len(res.VMs)
			if n == 0 && !res.StateRemoved {
				fmt.Fprintf(g.stdout, "Sandbox %q: nothing to remove.\n", res.Name)
				return nil
			}
			fmt.Fprintf(g.stdout, "Sandbox %q removed: %d containers, %d volumes, %d networks", res.Name,
				len(res.Removed.Containers), len(res.Removed.Volumes), len(res.Removed.Networks))
			if len(res.VMs) > 0 {
				fmt.Fprintf(g.stdout, ", %d VMs and their disks", len(res.VMs))
			}
			if res.StateRemoved {
				fmt.Fprint(g.stdout, ", state")
			}
			fmt.Fprintln(g.stdout, ".")
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-state", false, "keep the state directory")
	return cmd
}
