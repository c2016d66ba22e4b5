package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox/config"
)

// version and commit are set at build time: -ldflags "-X main.version=… -X main.commit=…".
var (
	version = ""
	commit  = ""
)

type versionInfo struct {
	Version  string            `json:"version"`
	Commit   string            `json:"commit,omitempty"`
	Go       string            `json:"go"`
	Platform string            `json:"platform"`
	Defaults map[string]string `json:"defaults"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && v.Commit == "" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	spec := config.DefaultSpec()
	v.Defaults = map[string]string{
		"vaultImage":    spec.Vault.Image,
		"postgresImage": spec.Postgres.Image,
		"k3sImage":      spec.Cluster.K3sImage,
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the labsbx version and the component versions it pins",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			return g.print(v, func(w io.Writer) error {
				fmt.Fprintf(w, "labsbx %s", v.Version)
				if v.Commit != "" {
					fmt.Fprintf(w, " (%s)", v.Commit)
				}
				fmt.Fprintf(w, " %s %s\n", v.Go, v.Platform)
				_, err := fmt.Fprintf(w, "default images: vault %s, postgres %s, k3s %s\n",
					v.Defaults["vaultImage"], v.Defaults["postgresImage"], v.Defaults["k3sImage"])
				return err
			})
		},
	}
}
