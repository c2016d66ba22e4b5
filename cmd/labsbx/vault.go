package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/vault"
)

func newVaultCmd(g *globals) *cobra.Command {
	cli := sandbox.NewVaultCLI(g.conf)
	cmd := &cobra.Command{
		Use:   "vault [status|seal|unseal|init|bootstrap] | vault -- <vault CLI args>",
		Short: "Operate the sandbox's Vault, or run the Vault CLI against it (vault -- <args>)",
		Long: `Operate the sandbox's own Vault. Its address, cluster_id and unseal key come from
the sandbox state, never from VAULT_ADDR or VAULT_TOKEN.

With -- and arguments, labsbx runs the Vault CLI inside the sandbox's Vault container,
with the sandbox's address and root token: no local vault binary is needed. Its output
and exit status pass through. A local vault works too: eval "$(labsbx env)".`,
		Example: `  labsbx vault status
  labsbx vault -- kv get kvv2/webapp/config
  labsbx vault -- read postgres/creds/webapp`,
		RunE: vaultCLIRun(g, cli),
	}
	unseal := vaultOpCmd(g, sandbox.VaultUnseal, "Unseal the sandbox's Vault with the sandbox's own key")
	unseal.Long = `Unseal the sandbox's Vault with the key kept in the sandbox state. This is the step
a recovery rehearses; production's key is never read.`
	cmd.AddCommand(
		vaultOpCmd(g, sandbox.VaultStatus, "Show whether the sandbox's Vault is initialised and sealed"),
		vaultOpCmd(g, sandbox.VaultSeal, "Seal the sandbox's Vault"),
		unseal,
		newVaultInitCmd(g),
		newVaultBootstrapCmd(g),
	)
	return cmd
}

// vaultOpCmd is `vault status|seal|unseal`: the operation, then the seal status.
func vaultOpCmd(g *globals, do sandbox.VaultDo, short string) *cobra.Command {
	op := sandbox.NewVaultOp(g.conf, do)
	return &cobra.Command{
		Use:   string(do),
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			st, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(st, func(w io.Writer) error { return vaultStatusText(w, st) })
		},
	}
}

func newVaultInitCmd(g *globals) *cobra.Command {
	op := sandbox.NewVaultInit(g.conf)
	return &cobra.Command{
		Use:   "init",
		Short: "Initialise the sandbox's Vault (1 share, threshold 1) if labsbx has not yet",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			res, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			if !res.Initialised {
				g.status().Infof("Vault of sandbox %q is already initialised; nothing to do.", g.name)
			}
			return g.print(res, func(w io.Writer) error { return vaultStatusText(w, res.Status) })
		},
	}
}

func newVaultBootstrapCmd(g *globals) *cobra.Command {
	op := sandbox.NewVaultBootstrap(g.conf)
	return &cobra.Command{
		Use:   "bootstrap",
		Short: "Converge the Vault layout: mounts, auth, policies and roles for every app",
		Args:  noArgs,
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
				if len(res.Changes) == 0 {
					_, err := fmt.Fprintln(w, "Vault layout is up to date: no changes.")
					return err
				}
				for _, c := range res.Changes {
					fmt.Fprintf(w, "  %s\n", c)
				}
				_, err := fmt.Fprintf(w, "%d changes.\n", len(res.Changes))
				return err
			})
		},
	}
}

func vaultStatusText(w io.Writer, st vault.Status) error {
	fmt.Fprintf(w, "Address:      %s\nInitialized:  %t\nSealed:       %t\nVersion:      %s\n", st.Addr, st.Initialized, st.Sealed, st.Version)
	if st.ClusterID != "" {
		fmt.Fprintf(w, "Cluster ID:   %s\n", st.ClusterID)
	}
	return nil
}
