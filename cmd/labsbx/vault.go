package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/internal/cli"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/vault"
)

func newVaultCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Operate the sandbox's Vault: status, seal, unseal, init, bootstrap",
		Long: `Operate the sandbox's own Vault. Its address, cluster_id and unseal key come from
the sandbox state, never from VAULT_ADDR or VAULT_TOKEN.`,
		Args: noArgs,
	}
	unseal := vaultStatusCmd(g, "unseal", "Unseal the sandbox's Vault with the sandbox's own key", "Unsealing Vault",
		func(s *connect.VaultSession, ctx context.Context) error { _, err := s.Unseal(ctx); return err })
	unseal.Long = `Unseal the sandbox's Vault with the key kept in the sandbox state. This is the step
a recovery rehearses; production's key is never read.`
	cmd.AddCommand(
		vaultStatusCmd(g, "status", "Show whether the sandbox's Vault is initialised and sealed", "", nil),
		vaultStatusCmd(g, "seal", "Seal the sandbox's Vault", "Sealing Vault", (*connect.VaultSession).Seal),
		unseal,
		&cobra.Command{
			Use:   "init",
			Short: "Initialise the sandbox's Vault (1 share, threshold 1) if labsbx has not yet",
			Args:  noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				conf, err := g.configuration()
				if err != nil {
					return err
				}
				st, did, err := conf.InitVault(cmd.Context(), g.name)
				if err != nil {
					return err
				}
				if !did {
					g.status().Infof("Vault of sandbox %q is already initialised; nothing to do.", g.name)
				}
				return printVaultStatus(g, st)
			},
		},
		&cobra.Command{
			Use:   "bootstrap",
			Short: "Converge the Vault layout: mounts, auth, policies and roles for every app",
			Args:  noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				conf, err := g.configuration()
				if err != nil {
					return err
				}
				changes, err := conf.Bootstrap(cmd.Context(), g.name)
				if err != nil {
					return err
				}
				if g.out() == cli.OutputJSON {
					if changes == nil {
						changes = []vault.Change{}
					}
					return cli.WriteJSON(g.stdout, map[string]any{"changes": changes})
				}
				if len(changes) == 0 {
					fmt.Fprintln(g.stdout, "Vault layout is up to date: no changes.")
					return nil
				}
				for _, c := range changes {
					fmt.Fprintf(g.stdout, "  %s\n", c)
				}
				fmt.Fprintf(g.stdout, "%d changes.\n", len(changes))
				return nil
			},
		},
	)
	return cmd
}

// vaultStatusCmd opens the sandbox's Vault, runs action as a step when there is one, and
// prints the seal status that follows.
func vaultStatusCmd(g *globals, use, short, step string, action func(*connect.VaultSession, context.Context) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openVault(cmd.Context())
			if err != nil {
				return err
			}
			if action != nil {
				err := g.status().Step(step+" at "+s.Client.Address(), func() error { return action(s, cmd.Context()) })
				if err != nil {
					return err
				}
			}
			st, err := s.Status(cmd.Context())
			if err != nil {
				return err
			}
			return printVaultStatus(g, st)
		},
	}
	return cmd
}

func printVaultStatus(g *globals, st vault.Status) error {
	if g.out() == cli.OutputJSON {
		return cli.WriteJSON(g.stdout, st)
	}
	fmt.Fprintf(g.stdout, "Address:      %s\nInitialized:  %t\nSealed:       %t\nVersion:      %s\n", st.Addr, st.Initialized, st.Sealed, st.Version)
	if st.ClusterID != "" {
		fmt.Fprintf(g.stdout, "Cluster ID:   %s\n", st.ClusterID)
	}
	return nil
}
