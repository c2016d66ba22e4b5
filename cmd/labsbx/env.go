package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
)

func newEnvCmd(g *globals) *cobra.Command {
	op := sandbox.NewEnv(g.conf)
	return &cobra.Command{
		Use:   "env",
		Short: "Print VAULT_ADDR, VAULT_TOKEN and the Postgres endpoint of the sandbox, for vault and psql",
		Long: `Print shell exports for using the sandbox with the vault and psql clients:

  eval "$(labsbx env)"

On the full profile it also sets KUBECONFIG to the cluster's kubeconfig in the
sandbox state, so that kubectl and helm talk to the sandbox cluster.

This prints the sandbox's root token and Postgres password: it is the one command
that shows them, and only because you asked.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			res, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error {
				for _, v := range res.Vars {
					fmt.Fprintf(w, "export %s=%s\n", v.Name, strconv.Quote(v.Value))
				}
				return nil
			})
		},
	}
}
