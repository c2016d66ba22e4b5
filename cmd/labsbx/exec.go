package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// The app identities: `ci login`, `ci exec`, `env --as` and `exec --as`.

// runAs logs in as op's identity and runs the command with its environment only.
func runAs(g *globals, cmd *cobra.Command, op *sandbox.AppEnv, argv []string) error {
	res, err := op.Run(cmd.Context())
	if err != nil {
		return appError(err)
	}
	g.status().Infof("Running %s as %s's %s identity (%s, policies %s)", argv[0], op.App, op.Kind, res.Login.Method, strings.Join(res.Login.Policies, ", "))
	return runLocal(g, cmd, argv, res.Vars)
}

// runLocal runs argv with vars and guard.IdentityEnv of the caller's environment only,
// and ends with its exit status.
func runLocal(g *globals, cmd *cobra.Command, argv []string, vars []sandbox.EnvVar) error {
	if err := guard.CheckExecArgs(argv, sandbox.HandoutEndpoints(vars)); err != nil {
		return err
	}
	fence, err := g.conf.FenceOf(g.name)
	if err != nil {
		return err
	}
	run := &sandbox.ExecLocal{Args: argv, Getenv: g.getenv, Stdin: cmd.InOrStdin(), Stdout: g.stdout, Stderr: g.stderr, Fence: fence, Reaper: g.conf.Reaper}
	code, err := run.Run(cmd.Context(), vars)
	return passThrough(argv[0], code, err)
}

// appError makes an unknown app a usage error (exit 2).
func appError(err error) error {
	if errors.Is(err, sandbox.ErrUnknownApp) {
		return &usageError{err}
	}
	return err
}

// appCompletion completes the first argument with the sandbox's apps.
func appCompletion(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return g.completeApps(cmd, args, s)
	}
}

// completeApps lists the apps recorded in the sandbox's state.
func (g *globals) completeApps(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	st, err := g.store()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	s, err := st.Load(g.name)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return s.Spec.Apps, cobra.ShellCompDirectiveNoFileComp
}

func newExecCmd(g *globals) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "exec [--as <app>] -- <command> [args...]",
		Short: "Run a local command against the sandbox: as the admin, or with --as as an app's pods",
		Long: `Run a local command with a scrubbed environment that points at the sandbox only.

Without --as it gets what labsbx env prints: VAULT_ADDR and the root token, the
Postgres superuser and, on the full profile, KUBECONFIG.

With --as <app> it gets the app's runtime identity, obtained the way its pods obtain it:
a Vault token of policy <app> only, and a fresh dynamic Postgres user from
postgres/creds/<app> (PGUSER, PGPASSWORD). On the full profile the token comes from
kubernetes/ role <app>, with a token of ServiceAccount <app>/<app> from the cluster's
TokenRequest API. The vault profile has no cluster: its token is created with the root
token with exactly policy <app>, what role <app> grants, without the login itself.

Besides those, only PATH, USER, LOGNAME, SHELL, TERM, LANG, LC_ALL, LC_CTYPE, TZ and
TMPDIR reach the command; HOME is the sandbox's own, in its state dir. On Linux the
command runs inside the sandbox's fence: its network reaches the sandbox's ports on
127.0.0.1 and nothing else (README, "The fence"). Its exit status is labsbx's.`,
		Example: `  labsbx exec --as webapp -- vault kv get kvv2/webapp/config
  labsbx exec --as webapp -- psql -c 'select current_user'
  labsbx exec -- vault status`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return usagef("put the command after --: labsbx exec [--as <app>] -- %s", args[0])
			}
			if err := guard.CheckExecArgs(args, nil); err != nil {
				return err
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			if as != "" {
				op := sandbox.NewAppEnv(g.conf, sandbox.IdentityRuntime)
				op.Name, op.App = g.name, as
				return runAs(g, cmd, op, args)
			}
			op := sandbox.NewEnv(g.conf)
			op.Name = g.name
			res, err := op.Run(cmd.Context())
			if err != nil {
				return err
			}
			return runLocal(g, cmd, args, res.Vars)
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "run as this app's runtime identity (policy <app>, a dynamic Postgres user)")
	_ = cmd.RegisterFlagCompletionFunc("as", g.completeApps)
	return cmd
}
