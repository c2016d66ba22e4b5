package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
)

func newCICmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Act as the lab's CI towards the sandbox's Vault",
		Args:  noArgs,
	}
	op := sandbox.NewCIToken(g.conf)
	token := &cobra.Command{
		Use:   "token <app>",
		Short: "Mint the JWT a Gitea Actions job of <app> would present to Vault (role gitea_cicd_<app>)",
		Long: `Mint the JWT a Gitea Actions job of <app> would present, signed by the sandbox's own
CI signing key, whose public half Vault's jwt/ auth trusts. Log in with it:

  vault write auth/jwt/login role=gitea_cicd_<app> jwt="$(labsbx ci token <app>)"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.App = g.name, args[0]
			res, err := op.Run(cmd.Context())
			if errors.Is(err, sandbox.ErrUnknownApp) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error { _, err := fmt.Fprintln(w, res.Token); return err })
		},
	}
	token.Flags().DurationVar(&op.TTL, "ttl", op.TTL, "token lifetime")
	cmd.AddCommand(token, newCILoginCmd(g), newCIExecCmd(g))
	return cmd
}
