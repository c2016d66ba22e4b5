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

func newCICmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Act as the lab's CI towards the sandbox's Vault",
		Args:  noArgs,
	}
	op := sandbox.NewCIToken(g.conf)
	token := &cobra.Command{
		Use:   "token <app>",
		Short: "Mint the JWT a Gitea Actions job of <app> would present to Vault (role gitea_cicd_<app>)",
		Long: `Mint the JWT a Gitea Actions job of <app> would present, signed by the sandbox's own
CI signing key, whose public half Vault's jwt/ auth trusts. Log in with it:

  vault write auth/jwt/login role=gitea_cicd_<app> jwt="$(labsbx ci token <app>)"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.App = g.name, args[0]
			res, err := op.Run(cmd.Context())
			if errors.Is(err, sandbox.ErrUnknownApp) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) error { _, err := fmt.Fprintln(w, res.Token); return err })
		},
	}
	token.Flags().DurationVar(&op.TTL, "ttl", op.TTL, "token lifetime")
	cmd.AddCommand(token, newCILoginCmd(g), newCIExecCmd(g))
	return cmd
}

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
  PATH, USER, LOGNAME, SHELL, TERM, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR
  HOME                      the sandbox's own, in its state dir

Nothing else of your shell reaches it: not a production VAULT_ADDR or VAULT_TOKEN,
not PG*, not KUBECONFIG. On Linux it runs inside the sandbox's fence: its network
reaches the sandbox's ports on 127.0.0.1 and nothing else (README, "The fence"). This is how tofu apply, a provisioning script or vault kv put
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
