package main

import (
	"errors"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// isRefusal maps guard refusals to exit status 3.
func isRefusal(err error) bool { return errors.Is(err, guard.ErrRefused) }

// refusalText is the guard's own "refused: <reason>" line, whatever wrapped it.
func refusalText(err error) string {
	var r *guard.Refusal
	if errors.As(err, &r) {
		return r.Error()
	}
	return "refused: " + err.Error()
}

// isDrillFailure maps a drill whose verification failed to exit status 4.
func isDrillFailure(err error) bool { return errors.As(err, new(drillFailure)) }

// remoteExitCode is the exit status of a command that `vm ssh` ran in a VM, which
// labsbx exits with; ok is false for every other error.
func remoteExitCode(err error) (code int, ok bool) {
	var re interface{ RemoteExitCode() int }
	if errors.As(err, &re) {
		return re.RemoteExitCode(), true
	}
	return 0, false
}

// drillFailure is implemented by the drill engine's verification error.
type drillFailure interface{ DrillFailed() bool }
