package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/docker"
)

// execIO wires a client run inside a container to this process's streams: a TTY when
// stdin is a terminal (interactive psql, vault prompts), plain streams otherwise.
func execIO(g *globals, cmd *cobra.Command) docker.ExecIO {
	sio := docker.ExecIO{Stdin: cmd.InOrStdin(), Stdout: g.stdout, Stderr: g.stderr}
	if f, ok := sio.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		sio.TTY = true
	}
	return sio
}

// passThrough ends a command with the client's own exit status.
func passThrough(what string, code int, err error) error {
	switch {
	case err != nil:
		return err
	case code != 0:
		return &remoteExit{vm: what, code: code}
	}
	return nil
}

// vaultCLIRun is `labsbx vault -- <args>`.
func vaultCLIRun(g *globals, op *sandbox.VaultCLI) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		if cmd.ArgsLenAtDash() != 0 {
			return usagef("put the Vault CLI's arguments after --: labsbx vault -- %s", args[0])
		}
		if _, err := g.configuration(); err != nil {
			return err
		}
		op.Name, op.Args, op.IO = g.name, args, execIO(g, cmd)
		code, err := op.Run(cmd.Context())
		return passThrough("vault", code, err)
	}
}

func newPSQLCmd(g *globals) *cobra.Command {
	op := sandbox.NewPSQL(g.conf)
	cmd := &cobra.Command{
		Use:   "psql [--as <app>] [-- <psql args>]",
		Short: "Run psql in the sandbox's Postgres container: as the superuser, or as a fresh dynamic user of an app",
		Long: `Run psql inside the sandbox's Postgres container, so that no local psql is needed.

Without --as it connects as the superuser. With --as <app> it first reads
postgres/creds/<app> from the sandbox's Vault with the app's runtime token (policy
<app>), and connects as that fresh dynamic user: what the app gets. Arguments after --
go to psql; its output and exit status pass through.

A local psql works too: eval "$(labsbx env)" sets PGHOST, PGPORT, PGUSER, PGPASSWORD.`,
		Example: `  labsbx psql
  labsbx psql -- -c 'select current_user'
  labsbx psql --as webapp -- -c 'select current_user, pg_has_role(current_user, '"'"'webapp_role'"'"', '"'"'member'"'"')'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return usagef("put psql's arguments after --: labsbx psql -- %s", args[0])
			}
			if _, err := g.configuration(); err != nil {
				return err
			}
			op.Name, op.Args, op.IO = g.name, args, execIO(g, cmd)
			code, err := op.Run(cmd.Context())
			if errors.Is(err, sandbox.ErrUnknownApp) {
				return &usageError{err}
			}
			return passThrough("psql", code, err)
		},
	}
	cmd.Flags().StringVar(&op.As, "as", "", "connect as a fresh dynamic user of this app (postgres/creds/<app>)")
	return cmd
}
