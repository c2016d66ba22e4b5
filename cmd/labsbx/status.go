package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/internal/cli"
	"github.com/arcodange/labsbx/sandbox/state"
)

// sandboxSummary is one row of `labsbx status`.
type sandboxSummary struct {
	Name      string      `json:"name"`
	UUID      string      `json:"uuid"`
	Profile   string      `json:"profile"`
	Phase     state.Phase `json:"phase"`
	Apps      []string    `json:"apps"`
	VaultAddr string      `json:"vaultAddr,omitempty"`
	Context   string      `json:"kubeContext,omitempty"`
	Faults    int         `json:"pendingFaults"`
	CreatedAt time.Time   `json:"createdAt"`
	StateDir  string      `json:"stateDir"`
}

type statusResult struct {
	StateRoot string           `json:"stateRoot"`
	Sandboxes []sandboxSummary `json:"sandboxes"`
	Errors    []string         `json:"errors,omitempty"`
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the sandboxes in the state root and where each one is",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			list, errs := st.List()
			res := statusResult{StateRoot: st.Root, Sandboxes: []sandboxSummary{}}
			for _, s := range list {
				row := sandboxSummary{Name: s.Name, UUID: s.UUID, Profile: s.Profile, Phase: s.Phase,
					Apps: s.Spec.Apps, Faults: len(s.Faults), CreatedAt: s.CreatedAt, StateDir: s.Dir()}
				if s.Vault != nil {
					row.VaultAddr = s.Vault.Addr
				}
				if s.Kube != nil {
					row.Context = s.Kube.Context
				}
				res.Sandboxes = append(res.Sandboxes, row)
			}
			for _, e := range errs {
				res.Errors = append(res.Errors, e.Error())
			}
			if g.out() == cli.OutputJSON {
				return cli.WriteJSON(g.stdout, res)
			}
			for _, e := range res.Errors {
				fmt.Fprintf(g.stderr, "warning: %s\n", e)
			}
			if len(res.Sandboxes) == 0 {
				fmt.Fprintf(g.stdout, "No sandboxes in %s. Create one with 'labsbx up'.\n", st.Root)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROFILE\tPHASE\tAPPS\tVAULT\tAGE")
			for _, r := range res.Sandboxes {
				vault := r.VaultAddr
				if vault == "" {
					vault = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.Profile, r.Phase, len(r.Apps), vault, age(time.Since(r.CreatedAt)))
			}
			return tw.Flush()
		},
	}
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
