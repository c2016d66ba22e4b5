package guard

import (
	"errors"
	"fmt"
)

// ErrRefused marks every refusal by the guard. main maps it to exit status 3.
var ErrRefused = errors.New("refused")

// Refusal is the error the guard returns when a target is not ours, or when it
// cannot tell. Error() is "refused: <reason>". Reasons never carry secrets.
type Refusal struct {
	Reason string
	// Check names the check of checks.go that refused ("" when none did: a refusal
	// built outside a table). Error() does not show it; reports and callers may.
	Check string
	// Err is the underlying cause, when there is one (for example a file that
	// cannot be read). It is reachable with errors.Is/As.
	Err error
}

func (r *Refusal) Error() string { return "refused: " + r.Reason }

// Is makes errors.Is(err, ErrRefused) true for every refusal.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// NotAnsweringYet is false: a refusal is final, and no wait retries it.
func (r *Refusal) NotAnsweringYet() bool { return false }

// Unwrap exposes the cause.
func (r *Refusal) Unwrap() error { return r.Err }

// refusef builds a refusal. A %w verb in format records the cause.
func refusef(format string, args ...any) *Refusal {
	err := fmt.Errorf(format, args...)
	return &Refusal{Reason: err.Error(), Err: errors.Unwrap(err)}
}

// asRefusal returns err as a refusal, wrapping it if needed.
func asRefusal(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	return &Refusal{Reason: err.Error(), Err: err}
}

// zeroRefusal is what methods on a zero-value approval return.
func zeroRefusal(kind string) error {
	return refusef("%s was not issued by the guard (zero value)", kind)
}

// WithHint adds to a refusal what the user may safely do next; the result is still
// the refusal (exit status 3). An error that is not a refusal is returned as it is.
// The hint must never carry a secret, nor name a command that could lose data.
func WithHint(err error, hint string) error {
	var r *Refusal
	if hint == "" || !errors.As(err, &r) {
		return err
	}
	return &Refusal{Reason: r.Reason + "; " + hint, Check: r.Check, Err: r}
}
