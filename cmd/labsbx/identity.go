package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// The app identities: `ci login`, `ci exec`, `env --as` and `exec --as`.

func newCILoginCmd(g *globals) *cobra.Command {
	op := sandbox.NewCILogin(g.conf)
	var asEnv bool
	cmd := &cobra.Command{
		Use:   "login <app>",
		Short: "Log in to the sandbox's Vault as <app>'s CI job (jwt/ role gitea_cicd_<app>, policy <app>-ops)",
		Long: `Log in exactly as a Gitea Actions job of <app> does: present the job's OIDC JWT
(signed by the sandbox's own CI key, the one Vault's jwt/ auth trusts) at
auth/jwt/login, role gitea_cicd_<app>. Vault answers with a token of policy <app>-ops.

It prints the token and its policies, -o json for all of the login, or with --env the
export lines for a shell. The token is a secret of the sandbox: it is shown because you
asked, and it works only on the sandbox's Vault.`,
		Example: `  labsbx ci login webapp
  eval "$(labsbx ci login webapp --env)" && vault kv put kvv2/webapp/config color=blue`,
		Args:              exactArgs(1),
		ValidArgsFunction: appCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.App = g.name, args[0]
			res, err := op.Run(cmd.Context())
			if err != nil {
				return appError(err)
			}
			if asEnv && g.output != "json" {
				_, err := fmt.Fprintf(g.stdout, "export VAULT_ADDR=%s\nexport VAULT_TOKEN=%s\n", strconv.Quote(res.VaultAddr), strconv.Quote(res.Token))
				return err
			}
			return g.print(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "token      %s\npolicies   %s\nttl        %ds\nmethod     %s\nvault      %s\n",
					res.Token, strings.Join(res.Policies, ", "), res.TTL, res.Method, res.VaultAddr)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asEnv, "env", false, "print export lines of VAULT_ADDR and VAULT_TOKEN")
	return cmd
}

func newCIExecCmd(g *globals) *cobra.Command {
	op := sandbox.NewAppEnv(g.conf, sandbox.IdentityCI)
	cmd := &cobra.Command{
		Use:   "exec <app> -- <command> [args...]",
		Short: "Run a command as <app>'s CI job: VAULT_ADDR and a gitea_cicd_<app> token, and the Gitea job's variables",
		Long: `Run a local command as a Gitea Actions job of <app> would run it against Vault:
labsbx logs in at jwt/ role gitea_cicd_<app> (see ci login) and runs the command with
a scrubbed environment. It holds only:

  VAULT_ADDR, VAULT_TOKEN   the sandbox's Vault and the job's token (policy <app>-ops)
  CI, GITHUB_*, GITEA_*     the job's variables: repository, ref, sha, workflow, run id
  PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR

Nothing else of your shell reaches it: not a production VAULT_ADDR or VAULT_TOKEN,
not PG*, not KUBECONFIG. This is how tofu apply, a provisioning script or vault kv put
is rehearsed against the sandbox. The command's exit status is labsbx's.`,
		Example: `  labsbx ci exec webapp -- vault kv put kvv2/webapp/config color=blue
  labsbx ci exec webapp --ref refs/heads/release -- tofu apply -auto-approve`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: appCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return usagef("give the app, then the command after --: labsbx ci exec <app> -- <command>")
			}
			if err := guard.CheckExecArgs(args[1:], nil); err != nil {
				return err
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.App = g.name, args[0]
			return runAs(g, cmd, op, args[1:])
		},
	}
	f := cmd.Flags()
	f.StringVar(&op.Job.Repository, "repository", "", "GITHUB_REPOSITORY of the job (default arcodange/<app>)")
	f.StringVar(&op.Job.Ref, "ref", "", "GITHUB_REF of the job (default refs/heads/main)")
	f.StringVar(&op.Job.SHA, "sha", "", "GITHUB_SHA of the job (default 40 zeros)")
	f.StringVar(&op.Job.Workflow, "workflow", "", "GITHUB_WORKFLOW of the job (default deploy)")
	f.StringVar(&op.Job.RunID, "run-id", "", "GITHUB_RUN_ID of the job (default 1)")
	return cmd
}

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
	run := &sandbox.ExecLocal{Args: argv, Getenv: g.getenv, Stdin: cmd.InOrStdin(), Stdout: g.stdout, Stderr: g.stderr}
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

Besides those, only PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG, LC_ALL, LC_CTYPE, TZ
and TMPDIR reach the command. Its exit status is labsbx's.`,
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
