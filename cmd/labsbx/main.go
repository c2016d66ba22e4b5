// Command labsbx brings up a production-like sandbox of a homelab's secret machinery
// (k3d, a separate Vault with its own unseal key, VSO, Postgres, arm64 VMs) and drills
// its failures. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/arcodange/labsbx/internal/procgroup"
	"github.com/arcodange/labsbx/sandbox/fence"
)

// Exit codes, as DESIGN.md's CLI contract gives them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitRefused     = 3
	exitDrillFailed = 4
)

// reaperBinary is this binary when it can lead the process group of a command it
// runs (procgroup.ServeReaper); main sets it, so that a test binary never is one.
var reaperBinary string

func main() {
	// A reaper runs its command with the environment labsbx gave it (the sandbox's
	// VAULT_ADDR and the rest): before dropTargetEnv, and nothing else of main.
	if code, served := procgroup.ServeReaper(os.Args); served {
		os.Exit(code)
	}
	switch {
	case len(os.Args) > 1 && os.Args[1] == fence.ChildCommand:
		// labsbx itself, starting a command inside its fence (package fence).
		os.Exit(fence.Child(os.Args[2:]))
	case os.Getenv(fence.EnvRelay) != "":
		// labsbx run by a command inside a fence: the labsbx outside runs it.
		os.Exit(fence.Relay(os.Getenv(fence.EnvRelay), os.Args[1:]))
	}
	reaperBinary = procgroup.ReaperPath()
	dropTargetEnv()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// dropTargetEnv removes VAULT_*, PG* and KUBECONFIG from labsbx's own environment
// before anything runs. labsbx never reads them (the guard builds every client from
// the sandbox state), but libraries do behind its back: the Vault API client reads
// VAULT_TOKEN when cloned and fails on a malformed VAULT_SKIP_VERIFY, pgx reads
// PGTARGETSESSIONATTRS, PGOPTIONS, PGSERVICE and the rest beneath any connection
// string, and client-go passes the environment to exec plugins. Without them nothing
// can be steered.
func dropTargetEnv() {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "VAULT_") || strings.HasPrefix(k, "PG") || k == "KUBECONFIG" {
			_ = os.Unsetenv(k)
		}
	}
}

// run executes one command line and returns the exit status. Errors are printed here,
// once; commands only return them.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr, getenv)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if code, ok := remoteExitCode(err); ok {
		return code // `vm ssh`: the command's own stderr already said why
	}
	code := exitCode(err)
	switch {
	case code == exitRefused:
		// The refusal's own text starts with "refused: ".
		fmt.Fprintln(stderr, refusalText(err))
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		fmt.Fprintln(stderr, "interrupted: state is saved; run the same command again to resume")
	case code == exitUsage:
		fmt.Fprintf(stderr, "error: %v\nRun 'labsbx --help' for usage.\n", err)
	default:
		fmt.Fprintf(stderr, "error: %v\n", err)
	}
	return code
}

// usageError marks a bad command line (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	var ue *usageError
	switch {
	case isRefusal(err):
		return exitRefused
	case isDrillFailure(err):
		return exitDrillFailed
	case errors.As(err, &ue):
		return exitUsage
	case strings.HasPrefix(err.Error(), "unknown command "), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"):
		// cobra's own command-line errors that no hook of ours wraps.
		return exitUsage
	}
	return exitFailure
}
