package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
)

func newUpCmd(g *globals) *cobra.Command {
	op := sandbox.NewUp(g.conf, sandbox.UpOptions{})
	var dryRun, merge bool
	var vms int
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the sandbox, or converge and resume an existing one",
		Long: `Create the sandbox named by --name, or converge one that exists.

With --profile vault, labsbx runs Postgres and a real Vault server as containers on
the local Docker engine, initialises Vault with its own unseal key (1 share,
threshold 1, kept in the sandbox state), unseals it and lays it out like production:
kvv2/, kv/, transit/, postgres/ dynamic credentials, kubernetes/ and jwt/ auth, and
the <app> and <app>-ops policies for every app of the config.

up is safe to repeat: a second run changes nothing. After a failure or Ctrl-C,
running it again resumes.

With --dry-run, up prints its plan (network or cluster, images, charts with their
pinned versions, ports, releases and steps in order) and touches nothing: no Docker,
no cluster, no state.

With --profile full, labsbx creates the k3d cluster labsbx-<name> (API, Vault and
Postgres published on 127.0.0.1; the kubeconfig stays in the sandbox state unless
--merge-kubeconfig), then installs Postgres, Vault, the Vault Secrets Operator and
one demo app per app with Helm, and initialises, unseals and bootstraps Vault with
the same code as the vault profile. It needs the k3s, k3d helper, Postgres, Vault
and VSO images: pulled, or from an offline bundle.

With --bundle DIR, every image comes from an offline bundle that 'labsbx bundle
save DIR' wrote: nothing is pulled. The bundle is checked against the plan first;
one that lacks an image or chart fails before anything is touched.`,
		Example: `  labsbx up --profile vault
  labsbx up --profile vault --name ci --config labsbx.yaml -o json
  labsbx up --profile full --dry-run -o json
  labsbx up --profile vault --bundle ./labsbx-bundle`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			op.Name, op.Config = g.name, cfg
			if cmd.Flags().Changed("vms") {
				op.VMs = &vms
			}
			if dryRun {
				plan, err := sandbox.PlanUp(g.getenv, op.UpOptions)
				if err != nil {
					return err
				}
				return g.print(plan, func(w io.Writer) error { _, err := fmt.Fprint(w, plan.Text()); return err })
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			if merge || op.SwitchContext {
				if op.MergeKubeconfig, err = sandbox.DefaultMergeTarget(); err != nil {
					return err
				}
			}
			res, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error { return upText(w, res) })
		},
	}
	cmd.Flags().StringVar(&op.Profile, "profile", "", "profile: full or vault (default: spec.profile of the config)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and touch nothing")
	cmd.Flags().IntVar(&vms, "vms", 0, "number of arm64 VMs (default: spec.vms.count; an existing sandbox keeps its count until --vms 0)")
	cmd.Flags().StringVar(&op.Bundle, "bundle", "", "offline bundle directory (from `labsbx bundle save`): images come from it, nothing is pulled")
	_ = cmd.MarkFlagDirname("bundle")
	cmd.Flags().BoolVar(&merge, "merge-kubeconfig", false, "full profile: also merge the cluster's context into ~/.kube/config (see 'labsbx kubeconfig merge')")
	cmd.Flags().BoolVar(&op.SwitchContext, "switch-context", false, "with --merge-kubeconfig: make the sandbox's context current")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions([]string{config.ProfileFull, config.ProfileVault}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func upText(w io.Writer, res *sandbox.UpResult) error {
	if len(res.Changes) == 0 {
		fmt.Fprintf(w, "Sandbox %q is ready; nothing changed (%s).\n", res.Name, res.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "Sandbox %q is ready: %d changes in %s.\n", res.Name, len(res.Changes), res.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "Vault:    %s\nPostgres: %s\nApps:     %v\n", res.VaultAddr, res.Postgres, res.Apps)
	fmt.Fprintf(w, "Use it:   eval \"$(labsbx env --name %s)\"\n", res.Name)
	for _, v := range res.VMs {
		fmt.Fprintf(w, "VM:       %s  ssh %s@%s (%s)  labsbx vm ssh %s --name %s\n", v.Name, v.User, v.SSH, v.Accel, v.Name, res.Name)
	}
	return nil
}
