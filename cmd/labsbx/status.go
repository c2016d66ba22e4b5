package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
)

func newStatusCmd(g *globals) *cobra.Command {
	op := sandbox.NewStatus(g.conf)
	return &cobra.Command{
		Use:   "status",
		Short: "List the sandboxes in the state root and where each one is",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			res, err := op.Run()
			if err != nil {
				return err
			}
			for _, e := range res.Errors {
				fmt.Fprintf(g.stderr, "warning: %s\n", e)
			}
			return g.print(res, func(w io.Writer) error { return statusText(w, res) })
		},
	}
}

func statusText(w io.Writer, res *sandbox.StatusResult) error {
	if len(res.Sandboxes) == 0 {
		_, err := fmt.Fprintf(w, "No sandboxes in %s. Create one with 'labsbx up'.\n", res.StateRoot)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROFILE\tPHASE\tAPPS\tVAULT\tAGE")
	for _, r := range res.Sandboxes {
		vault := r.VaultAddr
		if vault == "" {
			vault = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.Profile, r.Phase, len(r.Apps), vault, age(time.Since(r.CreatedAt)))
	}
	return tw.Flush()
}

// age prints a duration the way kubectl does: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
