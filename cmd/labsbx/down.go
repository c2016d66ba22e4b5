package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
)

func newDownCmd(g *globals) *cobra.Command {
	op := sandbox.NewDown(g.conf, sandbox.DownOptions{})
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove the sandbox: its containers, volumes, network, VMs, cluster and state",
		Long: `Remove the sandbox named by --name.

down removes the Docker objects that carry the sandbox's UUID (dev.labsbx.uuid), which
its state records, so it also cleans up a half-made sandbox. Objects of the same name
with another UUID belong to a same-named sandbox of another state root (LABSBX_HOME,
XDG_STATE_HOME): they are listed and left alone, with the state root that owns them
(every root up used is recorded) and the command to run there. Without a readable
state, down removes only objects that carry no UUID at all; --uuid names a sandbox
whose state was lost, to remove its objects on purpose: only when no known state root
owns them, and never a running Vault whose cluster_id a known state records. The state
directory stays while it holds the unseal key of a Vault volume that down left alone.
Running it again is harmless. With --keep-state the state directory (keys, reports)
stays. --dry-run prints the steps down would run and every Docker object of the
sandbox's name, with why it would be removed (the UUID it carries) or left alone, and
removes nothing.`,
		Example: `  labsbx down
  labsbx down --dry-run
  labsbx down --name ci-42 --keep-state
  labsbx down --name demo --uuid 7c9e6679-7425-40de-944b-e07fc1f90ae7   # its state is lost`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			if dryRun {
				plan, err := op.DryRun(cmd.Context())
				if err != nil {
					return err
				}
				return g.print(plan, func(w io.Writer) error { return downPlanText(w, plan) })
			}
			res, err := op.Run(cmd.Context())
			if err != nil {
				if res != nil {
					g.partial(res)
				}
				return err
			}
			return g.print(res, func(w io.Writer) error { return downText(w, res) })
		},
	}
	cmd.Flags().BoolVar(&op.KeepState, "keep-state", false, "keep the state directory")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what down would remove, and why each object is the sandbox's; remove nothing")
	cmd.Flags().StringVar(&op.UUID, "uuid", "", "without a readable state, remove the Docker objects (and VMs) of the sandbox with this UUID, if no known state root owns it")
	cmd.Flags().BoolVar(&op.Force, "force", false, "remove what --uuid names even when a known state owns it or its Vault, and the state dir even when its key opens a Vault volume left alone")
	return cmd
}

func downText(w io.Writer, res *sandbox.DownResult) error {
	n := len(res.Removed.Containers) + len(res.Removed.Volumes) + len(res.Removed.Networks) + len(res.VMs)
	if n == 0 && !res.StateRemoved && res.Cluster == "" {
		_, err := fmt.Fprintf(w, "Sandbox %q: nothing to remove.\n", res.Name)
		return err
	}
	fmt.Fprintf(w, "Sandbox %q removed: ", res.Name)
	if res.Cluster != "" {
		// k3d deletes the cluster's nodes, network and volumes itself; the counts after
		// it are what was left of the sandbox beside the cluster.
		fmt.Fprintf(w, "k3d cluster %s, ", res.Cluster)
	}
	fmt.Fprintf(w, "%d containers, %d volumes, %d networks",
		len(res.Removed.Containers), len(res.Removed.Volumes), len(res.Removed.Networks))
	if len(res.VMs) > 0 {
		fmt.Fprintf(w, ", %d VMs and their disks", len(res.VMs))
	}
	if res.StateRemoved {
		fmt.Fprint(w, ", state")
	}
	_, err := fmt.Fprintln(w, ".")
	return err
}

func downPlanText(w io.Writer, p *sandbox.DownPlan) error {
	proof := "its UUID " + p.UUID
	if p.UUID == "" {
		proof = "no UUID (no state): only objects of its name that carry none"
	}
	fmt.Fprintf(w, "down --name %s would, judging objects by %s:\n", p.Name, proof)
	for i, s := range p.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	if len(p.Objects) == 0 {
		_, err := fmt.Fprintln(w, "No Docker object carries the sandbox's name.")
		return err
	}
	fmt.Fprintln(w, "Docker objects:")
	for _, o := range p.Objects {
		verb := "remove"
		if !o.Remove {
			verb = "leave "
		}
		fmt.Fprintf(w, "  %s %-9s %s: %s\n", verb, o.Kind, o.Name, o.Why)
	}
	return nil
}
