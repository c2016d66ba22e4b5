package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/internal/cli"
)

func newEnvCmd(g *globals) *cobra.Command {
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
			s, err := g.openVault(cmd.Context())
			if err != nil {
				return err
			}
			sec, err := s.State.PostgresSecrets()
			if err != nil {
				return err
			}
			pg := s.State.PostgresAdminEndpoint(sec)
			vars := [][2]string{
				{"VAULT_ADDR", s.Client.Address()},
				{"VAULT_TOKEN", s.Keys.RootToken},
				{"PGHOST", pg.Host},
				{"PGPORT", strconv.Itoa(pg.Port)},
				{"PGUSER", pg.User},
				{"PGPASSWORD", pg.Password},
				{"PGDATABASE", pg.Database},
			}
			if s.State.Kube != nil {
				// The full profile: kubectl on the sandbox's own kubeconfig, once the
				// guard has checked it against the record.
				kc, err := g.kubeconfigPath()
				if err != nil {
					return err
				}
				vars = append(vars, [2]string{"KUBECONFIG", kc})
			}
			if g.out() == cli.OutputJSON {
				m := map[string]string{}
				for _, v := range vars {
					m[v[0]] = v[1]
				}
				return cli.WriteJSON(g.stdout, m)
			}
			for _, v := range vars {
				fmt.Fprintf(g.stdout, "export %s=%s\n", v[0], strconv.Quote(v[1]))
			}
			return nil
		},
	}
}
