package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
)

func newEnvCmd(g *globals) *cobra.Command {
	op := sandbox.NewEnv(g.conf)
	var as string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print VAULT_ADDR, VAULT_TOKEN and the Postgres endpoint of the sandbox, for vault and psql",
		Long: `Print shell exports for using the sandbox with the vault and psql clients:

  eval "$(labsbx env)"

On the full profile it also sets KUBECONFIG to the cluster's kubeconfig in the
sandbox state, so that kubectl and helm talk to the sandbox cluster.

With --as <app> it prints the app's runtime identity instead, obtained the way its
pods obtain it: VAULT_TOKEN of policy <app> only, and PGUSER/PGPASSWORD of a fresh
dynamic user from postgres/creds/<app>. On the full profile the token comes from
kubernetes/ role <app> with a token of ServiceAccount <app>/<app>; the vault profile has
no cluster, so its token is created with the root token with exactly policy <app>.
(The CI identity: labsbx ci login <app> --env.)

This prints the sandbox's root token and Postgres password (or the app's token and
password): it is the one command that shows them, and only because you asked.`,
		Example: `  eval "$(labsbx env)"
  eval "$(labsbx env --as webapp)" && vault kv get kvv2/webapp/config && psql -c 'select current_user'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			var res *sandbox.EnvResult
			if as != "" {
				app := sandbox.NewAppEnv(g.conf, sandbox.IdentityRuntime)
				app.Name, app.App = g.name, as
				r, err := app.Run(cmd.Context())
				if err != nil {
					return appError(err)
				}
				g.status().Infof("Runtime identity of %s: %s, policies %s; Postgres user %s (lease %s)", as, r.Login.Method, strings.Join(r.Login.Policies, ", "), r.Get("PGUSER"), r.Lease)
				res = &r.EnvResult
			} else {
				op.Name = g.name
				r, err := op.Run(cmd.Context())
				if err != nil {
					return err
				}
				res = r
			}
			return g.print(res, func(w io.Writer) error {
				for _, v := range res.Vars {
					fmt.Fprintf(w, "export %s=%s\n", v.Name, strconv.Quote(v.Value))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "print this app's runtime identity (policy <app>, a dynamic Postgres user)")
	_ = cmd.RegisterFlagCompletionFunc("as", g.completeApps)
	return cmd
}
