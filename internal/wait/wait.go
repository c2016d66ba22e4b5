// Package wait is labsbx's one way to wait: Poll until a check passes, Retry while the
// target is not answering yet, and the one classifier of "not answering yet". It is
// built on k8s.io/apimachinery/pkg/util/wait.
package wait

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	kwait "k8s.io/apimachinery/pkg/util/wait"
)

// permanentError ends Poll at once.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as one that no later try can mend: Poll returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Options tune Poll. The zero value polls every 50 ms until ctx ends.
type Options struct {
	// Interval between tries (50 ms when 0).
	Interval time.Duration
	// Timeout bounds the whole wait (none when 0: ctx's deadline).
	Timeout time.Duration
	// TryTimeout bounds each try, so that one hung request cannot eat the whole wait
	// (none when 0).
	TryTimeout time.Duration
}

// Poll calls check at once and then every interval until it returns nil, returns a
// Permanent error, or the wait ends; the error then says how long it waited and wraps
// check's last one.
func Poll(ctx context.Context, o Options, check func(context.Context) error) error {
	if o.Interval <= 0 {
		o.Interval = 50 * time.Millisecond
	}
	var last error
	cond := func(ctx context.Context) (bool, error) {
		tctx, cancel := ctx, context.CancelFunc(func() {})
		if o.TryTimeout > 0 {
			tctx, cancel = context.WithTimeout(ctx, o.TryTimeout)
		}
		defer cancel()
		err := check(tctx)
		var p permanentError
		if errors.As(err, &p) {
			return false, p.err
		}
		if err != nil && last != nil && ending(ctx, o.Interval) {
			// The wait ended during this try, or is about to: its error says only that
			// (a deadline, a rate limiter that would pass it), while the try before
			// says why the wait never succeeded.
			return false, nil
		}
		last = err
		return err == nil, nil
	}
	var err error
	if o.Timeout > 0 {
		err = kwait.PollUntilContextTimeout(ctx, o.Interval, o.Timeout, true, cond)
	} else {
		err = kwait.PollUntilContextCancel(ctx, o.Interval, true, cond)
	}
	switch {
	case err == nil:
		return nil
	case last == nil || !kwait.Interrupted(err):
		return err // a permanent error, or ctx ended before any try
	case o.Timeout > 0 && ctx.Err() == nil:
		return fmt.Errorf("not within %s: %w", o.Timeout, last)
	}
	return fmt.Errorf("%w (gave up: %w)", last, context.Cause(ctx))
}

// ending: ctx is done, or its deadline comes before another try could.
func ending(ctx context.Context, interval time.Duration) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < interval
}

// Retry calls fn every interval while it fails because its target is not answering yet
// (NotAnsweringYet), until ctx ends. Any other outcome is returned at once.
func Retry[T any](ctx context.Context, interval time.Duration, fn func() (T, error)) (T, error) {
	var v T
	err := Poll(ctx, Options{Interval: interval}, func(context.Context) error {
		var err error
		v, err = fn()
		if err != nil && !NotAnsweringYet(err) {
			return Permanent(err)
		}
		return err
	})
	return v, err
}

// answering is implemented by errors that know whether they mean "not answering yet":
// the guard's ErrReceiverDown (yes) and ErrReceiverStopped or a refusal (no).
type answering interface{ NotAnsweringYet() bool }

// NotAnsweringYet reports whether err means that nothing answers there yet, as while a
// container or server starts: the dial was refused or reset, the connection closed
// early, or a network timeout. An error that says for itself wins.
func NotAnsweringYet(err error) bool {
	if err == nil {
		return false
	}
	var a answering
	if errors.As(err, &a) {
		return a.NotAnsweringYet()
	}
	var op *net.OpError
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &op) || errors.As(err, &ne) && ne.Timeout() ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "server closed idle connection") // net/http's, when a starting server hangs up
}
