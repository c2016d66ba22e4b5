package wait_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/guard"
)

func TestPoll(t *testing.T) {
	ctx := context.Background()
	n := 0
	if err := wait.Poll(ctx, wait.Options{Interval: time.Millisecond}, func(context.Context) error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("Poll = %v after %d tries, want nil after 3", err, n)
	}
	err := wait.Poll(ctx, wait.Options{Interval: time.Millisecond, Timeout: 20 * time.Millisecond}, func(context.Context) error { return errors.New("still down") })
	if err == nil || !strings.HasPrefix(err.Error(), "not within 20ms: still down") {
		t.Errorf("Poll past its timeout = %v", err)
	}
	// A try that the wait's end cuts short does not hide why the tries before failed.
	n = 0
	err = wait.Poll(ctx, wait.Options{Interval: time.Millisecond, Timeout: 30 * time.Millisecond}, func(ctx context.Context) error {
		if n++; n == 1 {
			return errors.New("deployment not ready")
		}
		<-ctx.Done()
		return fmt.Errorf("get deployment: %w", ctx.Err())
	})
	if err == nil || !strings.Contains(err.Error(), "deployment not ready") {
		t.Errorf("Poll whose last try hung = %v, want the try before's reason", err)
	}
	// Nor one that gives up because the deadline is too near (client-go's rate limiter).
	n = 0
	err = wait.Poll(ctx, wait.Options{Interval: 10 * time.Millisecond, Timeout: 30 * time.Millisecond}, func(ctx context.Context) error {
		if n++; n == 1 {
			return errors.New("deployment not ready")
		}
		if dl, _ := ctx.Deadline(); time.Until(dl) < 10*time.Millisecond {
			return errors.New("rate: Wait(n=1) would exceed context deadline")
		}
		return errors.New("deployment not ready")
	})
	if err == nil || strings.Contains(err.Error(), "rate:") {
		t.Errorf("Poll whose last try gave up early = %v, want the try before's reason", err)
	}
	boom := errors.New("boom")
	n = 0
	err = wait.Poll(ctx, wait.Options{Interval: time.Millisecond}, func(context.Context) error { n++; return wait.Permanent(boom) })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("Poll of a permanent error = %v after %d tries", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	err = wait.Poll(cctx, wait.Options{Interval: time.Millisecond}, func(context.Context) error { return errors.New("down") })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Poll interrupted = %v, want it to wrap context.Canceled", err)
	}
}

func TestRetryAndNotAnsweringYet(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("get: %w", syscall.ECONNRESET), true},
		{guard.ErrReceiverDown, true},
		{errors.New(`Get "http://127.0.0.1:1/v1/sys/health": http: server closed idle connection`), true},
		{fmt.Errorf("dial: %w", guard.ErrReceiverStopped), false},
		{&guard.Refusal{Reason: "not ours", Err: refused}, false},
		{errors.New("permission denied"), false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := wait.NotAnsweringYet(tc.err); got != tc.want {
			t.Errorf("NotAnsweringYet(%v) = %v", tc.err, got)
		}
	}
	n := 0
	v, err := wait.Retry(context.Background(), time.Millisecond, func() (int, error) {
		if n++; n < 3 {
			return 0, refused
		}
		return 42, nil
	})
	if v != 42 || err != nil {
		t.Errorf("Retry = %d, %v", v, err)
	}
	n = 0
	_, err = wait.Retry(context.Background(), time.Millisecond, func() (int, error) { n++; return 0, guard.ErrReceiverStopped })
	if !errors.Is(err, guard.ErrReceiverStopped) || n != 1 {
		t.Errorf("Retry of a stopped receiver = %v after %d tries", err, n)
	}
}
