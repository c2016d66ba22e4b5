package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
)

func newKubeconfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "The sandbox cluster's kubeconfig: print it, or merge it into yours",
		Long: `The full profile writes the cluster's kubeconfig into the sandbox state and never
touches ~/.kube/config. These commands print it, or merge its context into a
kubeconfig of yours (and take it out again; down does that too).

Every command checks the kubeconfig against what the sandbox recorded first (the
guard): a kubeconfig that names another server or CA is refused.`,
	}
	cmd.AddCommand(newKubeconfigPathCmd(g), newKubeconfigGetCmd(g), newKubeconfigMergeCmd(g), newKubeconfigUnmergeCmd(g))
	return cmd
}

func newKubeconfigPathCmd(g *globals) *cobra.Command {
	op := sandbox.NewKubeconfigPath(g.conf)
	return &cobra.Command{
		Use:     "path",
		Short:   "Print the path of the sandbox's kubeconfig",
		Example: `  kubectl --kubeconfig "$(labsbx kubeconfig path)" get pods -A`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			p, err := op.Run()
			if err != nil {
				return err
			}
			return g.print(map[string]string{"path": p}, func(w io.Writer) error { _, err := fmt.Fprintln(w, p); return err })
		},
	}
}

func newKubeconfigGetCmd(g *globals) *cobra.Command {
	op := sandbox.NewKubeconfigPath(g.conf)
	return &cobra.Command{
		Use:   "get",
		Short: "Print the sandbox's kubeconfig (it holds the cluster admin's key)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			b, err := op.Contents()
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(b)
			return err
		},
	}
}

func newKubeconfigMergeCmd(g *globals) *cobra.Command {
	op := sandbox.NewKubeconfigMerge(g.conf)
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Add the sandbox's context to your kubeconfig (~/.kube/config)",
		Long: `Add the sandbox's context, cluster and user entries (k3d-labsbx-<name>) to a
kubeconfig of yours, ~/.kube/config unless --kubeconfig. $KUBECONFIG is not read.

Your other entries are kept as they are, and current-context is left alone unless
--switch-context. An existing entry of the same name that this sandbox did not write
is refused, not overwritten. The target must be a kubeconfig or a new file: the guard
refuses a key file, a device, a FIFO, a file in a sandbox's state and anything under
~/.arcodange. The sandbox records what it added; 'labsbx kubeconfig unmerge' and
'labsbx down' remove exactly that, and restore the previous current-context.`,
		Example: `  labsbx kubeconfig merge
  labsbx kubeconfig merge --switch-context
  labsbx kubeconfig merge --kubeconfig ~/.kube/labsbx.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			if op.Target == "" {
				var err error
				if op.Target, err = sandbox.DefaultMergeTarget(); err != nil {
					return err
				}
			}
			m, err := op.Run()
			if err != nil {
				return err
			}
			return g.print(m, func(w io.Writer) error {
				fmt.Fprintf(w, "Merged context %s into %s.\n", m.Context, m.Path)
				if m.Switched {
					fmt.Fprintf(w, "Current context: %s (was %q; unmerge restores it).\n", m.Context, m.PreviousContext)
				} else {
					fmt.Fprintf(w, "Use it:   kubectl --context %s get pods -A\n", m.Context)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&op.Target, "kubeconfig", "", "kubeconfig file to merge into (default ~/.kube/config)")
	cmd.Flags().BoolVar(&op.SwitchContext, "switch-context", false, "also make the sandbox's context the current one")
	_ = cmd.MarkFlagFilename("kubeconfig")
	return cmd
}

func newKubeconfigUnmergeCmd(g *globals) *cobra.Command {
	op := sandbox.NewKubeconfigUnmerge(g.conf)
	return &cobra.Command{
		Use:   "unmerge",
		Short: "Remove what 'kubeconfig merge' added to your kubeconfig",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name = g.name
			res, err := op.Run()
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error {
				if len(res.Removed) == 0 {
					_, err := fmt.Fprintln(w, "Nothing merged; nothing to remove.")
					return err
				}
				_, err := fmt.Fprintf(w, "Removed %s.\n", strings.Join(res.Removed, ", "))
				return err
			})
		},
	}
}
