package main

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/arcodange/labsbx/internal/cli"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/cluster/k3d"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// globals are the flags every command shares, and what they give access to.
type globals struct {
	name, configPath, output string
	verbose                  int
	quiet                    bool

	stdout, stderr io.Writer
	getenv         func(string) string
	// conf is what every operation shares. Operations are made with it when the
	// commands are built, so that flags bind onto their fields; configuration()
	// fills it once the global flags are parsed, as helm does with its
	// action.Configuration.
	conf       *sandbox.Configuration
	statusLine *cli.Status
}

func newRootCmd(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, getenv: getenv, conf: &sandbox.Configuration{}}
	root := &cobra.Command{
		Use:   "labsbx",
		Short: "Rehearse Vault, VSO and Postgres failures on a sandbox that cannot touch production",
		Long: `labsbx brings up a production-like sandbox of the lab's secret machinery: a k3d
cluster (or plain Docker containers with --profile vault), a separate Vault with its own
unseal key, Postgres with dynamic credentials, VSO and arm64 VMs. It then breaks that
sandbox on purpose and times the recovery.

A hard guard refuses every kube context, Vault and key file that labsbx did not create.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := cli.ParseOutput(g.output); err != nil {
				return &usageError{err}
			}
			if !cmd.Flags().Changed("name") && g.configPath != "" {
				// A config may name its sandbox (metadata.name), as k3d's does; --name wins.
				if cfg, err := g.loadConfig(); err == nil && cfg.Metadata.Name != "" {
					g.name = cfg.Metadata.Name
				}
			}
			if err := config.ValidateName(g.name); err != nil {
				return &usageError{err}
			}
			if err := nonNegativeFlags(cmd); err != nil {
				return err
			}
			if g.quiet && g.verbose > 0 {
				return usagef("-q and -v cannot be used together")
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.name, "name", "default", "sandbox name; without it, the config's metadata.name")
	pf.StringVar(&g.configPath, "config", "", "config file (labsbx.yaml); the embedded default when empty")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.CountVarP(&g.verbose, "verbose", "v", "more logs on stderr (repeat for more)")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress on stderr, only errors")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("name", g.completeNames)
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")

	root.AddCommand(
		newVersionCmd(g),
		newConfigCmd(g),
		newStatusCmd(g),
		newUpCmd(g),
		newDoctorCmd(g),
		newDownCmd(g),
		newVaultCmd(g),
		newPSQLCmd(g),
		newEnvCmd(g),
		newExecCmd(g),
		newCICmd(g),
		newDrillCmd(g),
		newGuardCmd(g),
		newVMCmd(g),
		newBundleCmd(g),
		newKubeconfigCmd(g),
	)
	return root
}

// out is the parsed -o value (validated in PersistentPreRunE).
func (g *globals) out() cli.Output { return cli.Output(g.output) }

// print writes a result on stdout: JSON with -o json, else its text form.
func (g *globals) print(v any, text func(w io.Writer) error) error {
	return cli.Print(g.stdout, g.out(), v, text)
}

// partial writes what a failed operation did get done, with -o json only (text says
// it in the error), so that a script sees it.
func (g *globals) partial(v any) {
	if g.out() == cli.OutputJSON && v != nil {
		_ = cli.WriteJSON(g.stdout, v)
	}
}

// status is the step printer on stderr: one per run, which the logger writes through.
func (g *globals) status() *cli.Status {
	if g.statusLine == nil {
		g.statusLine = cli.NewStatus(g.stderr, g.quiet)
	}
	return g.statusLine
}

// logger writes to stderr: warnings by default, info with -v, debug with -vv.
func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.quiet:
		level = slog.LevelError
	case g.verbose == 1:
		level = slog.LevelInfo
	case g.verbose > 1:
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(g.status(), &slog.HandlerOptions{Level: level}))
}

// store opens the state root.
func (g *globals) store() (*state.Store, error) {
	root, err := state.StateRoot(g.getenv)
	if err != nil {
		return nil, err
	}
	s, err := state.NewStore(root)
	if err != nil {
		return nil, err
	}
	s.Warn = func(msg string) { fmt.Fprintln(g.stderr, "warning: "+msg) }
	return s, nil
}

// loadConfig reads --config or the embedded default, with the image overrides. A
// config that cannot be read or is invalid is a usage error (exit 2); a refusal stays
// one (exit 3).
func (g *globals) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.configPath, g.getenv)
	if err != nil {
		return nil, &usageError{err}
	}
	return cfg, nil
}

// completeNames completes --name with the sandboxes in the state root.
func (g *globals) completeNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	st, err := g.store()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	list, _ := st.List()
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// nonNegativeFlags refuses a negative duration or count given to any flag (--timeout
// -5s, --ttl -1m, --vms -1): none of labsbx's means anything below zero.
func nonNegativeFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch f.Value.Type() {
		case "duration":
			if d, perr := time.ParseDuration(f.Value.String()); perr == nil && d < 0 {
				err = usagef("--%s must not be negative, got %s", f.Name, f.Value)
			}
		case "int": // counts (--vms, --repeat); --seed is an int64 and may be negative
			if n, perr := strconv.ParseInt(f.Value.String(), 10, 64); perr == nil && n < 0 {
				err = usagef("--%s must not be negative, got %s", f.Name, f.Value)
			}
		}
	})
	return err
}

// noArgs is cobra.NoArgs with a usage exit status.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%q takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// exactArgs is cobra.ExactArgs with a usage exit status.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%q takes %d argument(s), got %d; see '%s --help'", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// configuration is what every sandbox operation shares.
// configuration fills the configuration every operation shares, from the global
// flags and the environment, once.
func (g *globals) configuration() (*sandbox.Configuration, error) {
	if g.conf.Store != nil {
		return g.conf, nil
	}
	st, err := g.store()
	if err != nil {
		return nil, err
	}
	*g.conf = sandbox.Configuration{Store: st, Progress: g.status(), Log: g.logger(), Getenv: g.getenv, Clusters: k3dClusters, Reaper: reaperBinary}
	return g.conf, nil
}

// k3dClusters is the full profile's cluster provider: the k3d library.
func k3dClusters(a guard.DockerApproval, name, uuid string, h cluster.Helpers) (cluster.Provider, error) {
	return k3d.NewProvider(a, name, uuid, h), nil
}
