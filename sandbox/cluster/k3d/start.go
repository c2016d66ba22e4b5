package k3d

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcodange/labsbx/sandbox/cluster"
)

// StartTimeout bounds starting a stopped cluster (up on an existing cluster, the
// full-restart drill, drill recover).
const StartTimeout = 3 * time.Minute

// startGrace is how long after StartTimeout labsbx still waits for k3d to return its
// own error before it gives up on the call.
const startGrace = 15 * time.Second

// ErrStartTimeout marks a cluster start that did not finish within StartTimeout.
var ErrStartTimeout = errors.New("k3d cluster start timed out")

// startWithin runs start with a deadline of limit. k3d's ClusterStart can hang past its
// own timeout: it checks its context only between log lines of the node it waits for,
// and after a stop with two or more servers it may wait for a line that a restarted
// server never prints again (k3d-io/k3d#1526, open in v5.8.3). So the call is also
// abandoned grace after the deadline; k3d's goroutine then ends when its log stream
// does. A cancelled parent context is returned as such, not as a timeout.
func startWithin(ctx context.Context, limit, grace time.Duration, start func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- start(sctx) }()
	var err error
	select {
	case err = <-done:
	case <-sctx.Done():
		select {
		case err = <-done:
		case <-time.After(grace):
			err = sctx.Err()
		}
	}
	switch {
	case ctx.Err() != nil:
		return errors.Join(ctx.Err(), err)
	case err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w after %s: %w", ErrStartTimeout, limit, err)
	}
	return err
}

// startTimeoutHint says what to do when starting the sandbox's cluster timed out.
func startTimeoutHint(sandbox string, servers int) string {
	name := cluster.Name(sandbox)
	nodes := "docker ps -a --filter label=k3d.cluster=" + name
	if servers < 2 {
		return fmt.Sprintf("see why its server did not come up with `docker logs k3d-%s-server-0`; then run `labsbx up --name %s` again, "+
			"or recreate the sandbox with `labsbx down --name %s` and `labsbx up` (its Vault and data go with it)", name, sandbox, sandbox)
	}
	return fmt.Sprintf("k3d cannot always restart a stopped cluster with %d servers (k3d-io/k3d#1526): it waits for a log line that a "+
		"restarted server does not print again, and leaves the remaining nodes stopped. Look at the nodes with `%s`; "+
		"start the ones still exited with `docker start <name>…` (k3s rejoins them), then run `labsbx up --name %s`, "+
		"which finds them running. If they do not come up, recreate the sandbox with `labsbx down --name %s` and `labsbx up` "+
		"(its Vault and data go with it); spec.cluster.servers: 1 avoids this", servers, nodes, sandbox, sandbox)
}
