package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/config"
)

func newBundleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Save and inspect offline bundles (every image and chart `up` needs)",
		Long: `An offline bundle is a directory with every image and chart that 'labsbx up'
needs for a profile and config: 'labsbx bundle save DIR' writes it on a machine that
can pull, and 'labsbx up --bundle DIR' runs from it with no network (on a plane, in a
lab without egress, in CI with a cold cache).

A bundle holds images (docker save archives) and Helm chart archives, each with its
sha256 in DIR/bundle.json. It never holds sandbox state or secrets.`,
	}
	cmd.AddCommand(newBundleSaveCmd(g), newBundleInspectCmd(g))
	return cmd
}

func newBundleSaveCmd(g *globals) *cobra.Command {
	var profile, chartRepo string
	var vms int
	cmd := &cobra.Command{
		Use:   "save DIR",
		Short: "Write every image and chart of the plan into DIR",
		Long: `Write every image and chart that 'labsbx up' needs for this config and profile
into DIR (created if needed; an existing DIR must be empty or a bundle).

Images the local Docker engine lacks are pulled first. Our own charts are packaged
from the binary; the upstream Vault and VSO charts are pulled from HashiCorp's Helm
repository, or from --chart-repo: another Helm repository, or a directory of chart
archives named <name>-<version>.tgz, as 'helm package' names them. save is safe to re-run: what is already saved for
the same image ID or chart version is kept. The VM image is not part of a bundle.`,
		Example: `  labsbx bundle save ./labsbx-bundle --profile vault
  labsbx bundle save /media/usb/labsbx --profile full --chart-repo https://mirror.example/helm`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			conf, err := g.configuration()
			if err != nil {
				return err
			}
			up := sandbox.UpOptions{Name: g.name, Config: cfg, Profile: profile}
			if cmd.Flags().Changed("vms") {
				up.VMs = &vms
			}
			m, err := sandbox.SaveBundle(cmd.Context(), conf, sandbox.BundleSaveOptions{
				Up: up, Dir: args[0], ChartRepo: chartRepo, Labsbx: currentVersion().Version,
			})
			if err != nil {
				return err
			}
			return g.print(m, func(w io.Writer) error {
				manifestText(w, args[0], m)
				_, err := fmt.Fprintf(w, "Use it:   labsbx up --profile %s --bundle %s\n", m.Profile, args[0])
				return err
			})
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", "profile: full or vault (default: spec.profile of the config)")
	cmd.Flags().StringVar(&chartRepo, "chart-repo", "", "Helm repository to pull the upstream charts from instead of https://helm.releases.hashicorp.com (a mirror), or a local directory holding <name>-<version>.tgz archives")
	cmd.Flags().IntVar(&vms, "vms", 0, "as up --vms (VM images are not bundled)")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions([]string{config.ProfileFull, config.ProfileVault}, cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = completeDirs
	return cmd
}

func newBundleInspectCmd(g *globals) *cobra.Command {
	op := sandbox.NewBundleInspect(g.conf)
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "Show what a bundle holds and whether it covers this config",
		Long: `Show the images and charts of the bundle in DIR, and check that it holds
everything 'labsbx up --bundle DIR' needs for this config and profile. With --verify,
also hash every file against the manifest.`,
		Example: `  labsbx bundle inspect ./labsbx-bundle --verify
  labsbx bundle inspect ./labsbx-bundle --profile vault -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Dir, op.Up.Name, op.Up.Config = args[0], g.name, cfg
			res, err := op.Run()
			if res == nil {
				return err
			}
			if perr := g.print(res, func(w io.Writer) error { return inspectionText(w, res) }); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&op.Up.Profile, "profile", "", "profile to check the bundle against (default: the bundle's own)")
	cmd.Flags().BoolVar(&op.Verify, "verify", false, "hash every file against the manifest")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions([]string{config.ProfileFull, config.ProfileVault}, cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = completeDirs
	return cmd
}

func inspectionText(w io.Writer, res *sandbox.BundleInspection) error {
	manifestText(w, res.Dir, res.Manifest)
	if res.Verified {
		fmt.Fprintln(w, "Verified: every file matches its sha256")
	}
	if res.Covers {
		fmt.Fprintf(w, "Covers:   profile %s of this config\n", res.Profile)
	}
	return nil
}

func manifestText(w io.Writer, dir string, m *bundle.Manifest) {
	fmt.Fprintf(w, "Bundle:   %s (profile %s, saved %s by labsbx %s)\n", dir, m.Profile, m.Created.Format("2006-01-02 15:04 MST"), m.Labsbx)
	for _, i := range m.Images {
		fmt.Fprintf(w, "Image:    %-24s %s  %s\n", i.Component, i.Ref, mib(i.Size))
	}
	for _, c := range m.Charts {
		fmt.Fprintf(w, "Chart:    %-24s %s  %s\n", c.Name, c.Version, c.Source)
	}
}

func completeDirs(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveFilterDirs
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
