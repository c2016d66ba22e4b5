package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/internal/cli"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

func newGuardCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "Ask the hard guard whether a target belongs to the sandbox",
		Args:  noArgs,
	}
	var (
		offline bool
		t       guard.Target
	)
	check := &cobra.Command{
		Use:   "check",
		Short: "Check a kube context, Vault address or key path against what the sandbox recorded (exit 0 ours, 3 refused)",
		Long: `Check targets against the sandbox named by --name. A target is ours only when the
sandbox state recorded it at creation: the context k3d-labsbx-<name> with the recorded
loopback server, port, CA and marker ConfigMap; the recorded Vault address and
cluster_id; a key path inside the sandbox's state dir.

Offline checks run first; nothing that fails them is ever dialled or resolved.
KUBECONFIG, VAULT_ADDR and VAULT_TOKEN are never read.`,
		Example: `  labsbx guard check --kubeconfig ~/.kube/config --context k3d-labsbx-default
  labsbx guard check --vault-addr http://127.0.0.1:8200 -o json
  labsbx guard check --key-path ~/.arcodange/cluster-keys.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(t.Kubeconfig) == 0 && t.Context == "" && t.VaultAddr == "" && t.KeyPath == "" {
				return usagef("give at least one of --kubeconfig/--context, --vault-addr or --key-path")
			}
			for i, k := range t.Kubeconfig {
				if abs, err := filepath.Abs(k); err == nil {
					t.Kubeconfig[i] = abs
				}
			}
			rec, err := guardRecord(g)
			if err != nil {
				return err
			}
			rep := guard.Check(cmd.Context(), rec, t, guard.CheckOptions{Offline: offline})
			if g.out() == cli.OutputJSON {
				if err := cli.WriteJSON(g.stdout, rep); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CHECK\tTARGET\tRESULT\tDETAIL")
				for _, c := range rep.Checks {
					res := "ok"
					if !c.OK {
						res = "REFUSED"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Target, res, c.Detail)
				}
				_ = tw.Flush()
				if rep.Approved {
					fmt.Fprintf(g.stdout, "ours: every target belongs to sandbox %q\n", g.name)
				}
			}
			return rep.Err()
		},
	}
	f := check.Flags()
	f.StringSliceVar(&t.Kubeconfig, "kubeconfig", nil, "kubeconfig file(s), in kubectl's precedence order (repeat or comma-separate)")
	f.StringVar(&t.Context, "context", "", "kube context (default: the files' current-context)")
	f.StringVar(&t.VaultAddr, "vault-addr", "", "Vault address")
	f.StringVar(&t.KeyPath, "key-path", "", "path of an unseal key or root token file")
	f.BoolVar(&offline, "offline", false, "skip the online identity checks (marker ConfigMap, cluster_id)")
	cmd.AddCommand(check)
	return cmd
}

// guardRecord is what the state of --name recorded; a sandbox that does not exist
// recorded nothing, so every target is refused.
func guardRecord(g *globals) (guard.Record, error) {
	st, err := g.store()
	if err != nil {
		return guard.Record{}, err
	}
	s, err := st.Load(g.name)
	if errors.Is(err, state.ErrNotFound) {
		return guard.Record{Name: g.name, StateDir: st.Dir(g.name)}, nil
	}
	if err != nil {
		return guard.Record{}, err
	}
	return s.GuardRecord(), nil
}
