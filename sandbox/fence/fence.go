// Package fence runs a command labsbx runs for the user (a drill file's commands and
// command probes, `labsbx exec`, `labsbx ci exec`) inside a fence where only the
// sandbox is reachable. The guard decides what goes through (guard.ApproveFence,
// guard.CheckFenceInside, guard.ForwardDial); this package builds it.
//
// On Linux, labsbx starts itself as `labsbx __fence` in a new user and network
// namespace (an identity uid/gid map: no privilege is needed where user namespaces
// are allowed). That child brings lo up, listens on 127.0.0.1:<port> for each port
// the guard approved, passes the listeners to labsbx over an inherited socket
// (SCM_RIGHTS), and executes the command in place: the command is labsbx's direct
// child, so its terminal, exit status and signals are what they were unfenced.
// labsbx, still in the host's namespace, accepts on those listeners and forwards each
// connection to the host's 127.0.0.1:<same port> once the port's receiver proof holds.
// Nothing else has a route: another loopback port, a LAN address, DNS.
//
// Why not a container on the sandbox's Docker network? It would need an image with
// the user's tools (psql, vault, jq, ansible, their scripts) and their working
// directory mounted in, a Docker engine that may be remote (the VM of Docker Desktop),
// and the sandbox's network reaches beyond the sandbox anyway (a bridge routes to the
// LAN unless it is internal, and an internal one cannot reach published ports). A
// namespace of the calling process keeps the user's own tools and files and has no
// route at all but the forwarded ports.
//
// `labsbx` run inside the fence (a runbook's "$LABSBX" vm start) is relayed: it asks
// the labsbx outside, over another inherited socket, to run the same command line
// there, with its standard streams. labsbx's own commands are guarded themselves, and a
// VM it starts must live in the host's namespace.
package fence

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// ChildCommand is the hidden subcommand of labsbx that becomes the fenced command.
const ChildCommand = "__fence"

// EnvRelay names the descriptor of the relay socket inside the fence (see Relay).
const EnvRelay = "LABSBX_FENCE_RELAY"

// Fence confines commands of one sandbox to what the guard approved.
type Fence struct {
	Approval guard.FenceApproval
	// Warn receives, once per process, the warning that no fence could be built here
	// (nil: os.Stderr).
	Warn io.Writer
	// Log receives a line for each connection the fence refused to forward (nil: the
	// command's own Stderr).
	Log io.Writer
}

// Running is one fenced command's fence, from Wrap to Finish.
type Running struct {
	finish func(runErr error) error
}

// Finish tears the fence down once the command has ended: listeners, forwarded
// connections, relayed labsbx runs. When the fenced child refused to run the command
// (a failed fence-* check), that refusal is the result; otherwise runErr.
func (r *Running) Finish(runErr error) error {
	if r == nil || r.finish == nil {
		return runErr
	}
	return r.finish(runErr)
}

// Wrap makes cmd (made with exec.Command, not started) run inside the fence: its
// environment gets the sandbox's HOME (and DOCKER_CONFIG in it), and on Linux its
// Path, Args, ExtraFiles and the namespace fields of SysProcAttr change so that
// `labsbx __fence` starts first. Other SysProcAttr fields (Setpgid, Pdeathsig) are
// kept: set them before or after. Call Finish after cmd has ended.
func (f *Fence) Wrap(ctx context.Context, cmd *exec.Cmd) (*Running, error) {
	if !f.Approval.Approved() {
		return nil, &guard.Refusal{Reason: "fence: no approval of the guard (zero FenceApproval)"}
	}
	cmd.Env = withHome(cmd.Env, f.Approval.Home())
	if cmd.Err != nil { // the command was not found: Run reports it as before
		return &Running{}, nil //nolint:nilerr // cmd.Run returns cmd.Err itself
	}
	if ok, why := Available(); !ok {
		f.warnOnce(why)
		return &Running{}, nil
	}
	return f.wrap(ctx, cmd)
}

// withHome replaces HOME in env with home, and points the Docker CLI at the
// configuration (and context) the sandbox keeps there.
func withHome(env []string, home string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "DOCKER_CONFIG" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
}

var warned sync.Once

func (f *Fence) warnOnce(why string) {
	warned.Do(func() {
		w := f.Warn
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprintf(w, "warning: no network fence here (%s): commands labsbx runs for you can reach more than the sandbox; only the text checks of the guard apply (see README, \"The fence\")\n", why)
	})
}

var (
	probeOnce sync.Once
	probeOK   bool
	probeWhy  string
)

// Available reports whether a fence can be built here, and if not, why. It is
// decided once per process (on Linux by starting one fenced child that only checks
// its namespace).
func Available() (bool, string) {
	probeOnce.Do(func() { probeOK, probeWhy = probe() })
	return probeOK, probeWhy
}
