package k3d

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestStartWithin: a start that hangs past its deadline, even one that ignores its
// context as k3d's wait for a log line can (k3d-io/k3d#1526), returns a timeout
// within the deadline and its grace; a cancelled parent is not called a timeout.
func TestStartWithin(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	t0 := time.Now()
	err := startWithin(context.Background(), 50*time.Millisecond, 50*time.Millisecond, func(context.Context) error {
		<-hang // ignores its context
		return nil
	})
	if !errors.Is(err, ErrStartTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a start that ignores its context: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}

	err = startWithin(context.Background(), 50*time.Millisecond, time.Minute, func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("Context deadline exceeded while waiting for log message 'k3s is up and running'")
	})
	if !errors.Is(err, ErrStartTimeout) || !strings.Contains(err.Error(), "k3s is up and running") {
		t.Errorf("k3d's own timeout: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = startWithin(ctx, time.Minute, time.Second, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrStartTimeout) {
		t.Errorf("cancelled: %v", err)
	}

	if err := startWithin(context.Background(), time.Minute, time.Second, func(context.Context) error { return nil }); err != nil {
		t.Errorf("a start that works: %v", err)
	}
	boom := errors.New("boom")
	if err := startWithin(context.Background(), time.Minute, time.Second, func(context.Context) error { return boom }); !errors.Is(err, boom) || errors.Is(err, ErrStartTimeout) {
		t.Errorf("a start that fails: %v", err)
	}
}

// TestStartTimeoutHint says what to do, naming the nodes, and k3d's bug when there
// are several servers.
func TestStartTimeoutHint(t *testing.T) {
	one := startTimeoutHint("demo", 1)
	if !strings.Contains(one, "docker logs k3d-labsbx-demo-server-0") || !strings.Contains(one, "labsbx up --name demo") || strings.Contains(one, "#1526") {
		t.Errorf("one server: %s", one)
	}
	three := startTimeoutHint("demo", 3)
	for _, want := range []string{"k3d-io/k3d#1526", "docker ps -a --filter label=k3d.cluster=labsbx-demo", "docker start", "labsbx up --name demo", "labsbx down --name demo", "servers: 1"} {
		if !strings.Contains(three, want) {
			t.Errorf("three servers: hint lacks %q: %s", want, three)
		}
	}
}
