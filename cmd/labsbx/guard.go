package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/guard"
)

func newGuardCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "Ask the hard guard whether a target belongs to the sandbox",
		Args:  noArgs,
	}
	op := sandbox.NewGuardCheck(g.conf)
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
			t := op.Target
			if len(t.Kubeconfig) == 0 && t.Context == "" && t.VaultAddr == "" && t.KeyPath == "" {
				return usagef("give at least one of --kubeconfig/--context, --vault-addr or --key-path")
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			rep, err := op.Run(cmd.Context())
			if perr := g.print(rep, func(w io.Writer) error { return guardText(w, rep, g.name) }); perr != nil {
				return perr
			}
			return err
		},
	}
	f := check.Flags()
	f.StringSliceVar(&op.Target.Kubeconfig, "kubeconfig", nil, "kubeconfig file(s), in kubectl's precedence order (repeat or comma-separate)")
	f.StringVar(&op.Target.Context, "context", "", "kube context (default: the files' current-context)")
	f.StringVar(&op.Target.VaultAddr, "vault-addr", "", "Vault address")
	f.StringVar(&op.Target.KeyPath, "key-path", "", "path of an unseal key or root token file")
	f.BoolVar(&op.Offline, "offline", false, "skip the online identity checks (marker ConfigMap, cluster_id)")
	cmd.AddCommand(check)
	return cmd
}

func guardText(w io.Writer, rep guard.Report, name string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tTARGET\tRESULT\tDETAIL")
	for _, c := range rep.Checks {
		res := "ok"
		if !c.OK {
			res = "REFUSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Target, res, c.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Approved {
		_, err := fmt.Fprintf(w, "ours: every target belongs to sandbox %q\n", name)
		return err
	}
	return nil
}
