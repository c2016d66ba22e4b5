package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox/config"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the sandbox config",
		Args:  noArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "view",
		Short: "Print the effective config: --config or the embedded default, with defaults and image overrides applied",
		Long: `Print the effective config.

Without --config this is the embedded default that 'labsbx up' uses. The environment
variables LABSBX_VAULT_IMAGE and LABSBX_POSTGRES_IMAGE override the images.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			return g.print(cfg, func(w io.Writer) error {
				b, err := config.Marshal(cfg)
				if err != nil {
					return err
				}
				_, err = w.Write(b)
				return err
			})
		},
	})
	return cmd
}
