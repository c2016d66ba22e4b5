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

// drillFailure is implemented by the drill engine's verification error.
type drillFailure interface{ DrillFailed() bool }
