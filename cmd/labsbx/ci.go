package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/internal/cli"
	"github.com/arcodange/labsbx/sandbox/vault"
)

func newCICmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Act as the lab's CI towards the sandbox's Vault",
		Args:  noArgs,
	}
	var ttl time.Duration
	token := &cobra.Command{
		Use:   "token <app>",
		Short: "Mint the JWT a Gitea Actions job of <app> would present to Vault (role gitea_cicd_<app>)",
		Long: `Mint the JWT a Gitea Actions job of <app> would present, signed by the sandbox's own
CI signing key, whose public half Vault's jwt/ auth trusts. Log in with it:

  vault write auth/jwt/login role=gitea_cicd_<app> jwt="$(labsbx ci token <app>)"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app := args[0]
			// The guard approves the sandbox's Vault first: the token is only for it.
			s, err := g.openVault(cmd.Context())
			if err != nil {
				return err
			}
			if !slices.Contains(s.State.Spec.Apps, app) {
				return usagef("app %q is not in sandbox %q (apps: %v)", app, g.name, s.State.Spec.Apps)
			}
			kp, err := s.State.CISigningKeyPath()
			if err != nil {
				return err
			}
			key, _, err := vault.LoadOrCreateSigningKey(kp)
			if err != nil {
				return err
			}
			tok, err := vault.MintCIToken(key, app, vault.CITokenOptions{TTL: ttl})
			if err != nil {
				return err
			}
			if g.out() == cli.OutputJSON {
				return cli.WriteJSON(g.stdout, map[string]string{"token": tok, "role": vault.CIRole(app), "mount": vault.AuthJWT})
			}
			fmt.Fprintln(g.stdout, tok)
			return nil
		},
	}
	token.Flags().DurationVar(&ttl, "ttl", 5*time.Minute, "token lifetime")
	cmd.AddCommand(token)
	return cmd
}
