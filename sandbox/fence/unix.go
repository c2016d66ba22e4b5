package fence

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// The clients behind `labsbx vault --` and `labsbx psql` run in a container of the
// sandbox's image with no network at all; what they reach is a unix socket labsbx
// serves in a directory mounted into it, forwarded like the fence's ports.

// UnixForward serves one unix socket whose connections go to the host's 127.0.0.1:
// <port>, each after the guard's proof (guard.ForwardDial).
type UnixForward struct {
	l     net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// ServeUnix listens on path (a new socket, mode 0600) and forwards each connection to
// p's port as the fence approval a allows. Refused connections are closed, with a
// line on log. Close stops it.
func ServeUnix(ctx context.Context, a guard.FenceApproval, p guard.FencePort, path string, log io.Writer) (*UnixForward, error) {
	if !a.Approved() {
		return nil, &guard.Refusal{Reason: "fence: no approval of the guard (zero FenceApproval)"}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("fence: %w", err)
	}
	u := &UnixForward{l: l, conns: map[net.Conn]bool{}}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !u.track(c) {
				return
			}
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer u.untrack(c)
				up, err := guard.ForwardDial(ctx, a, p)
				if err != nil {
					fmt.Fprintf(log, "labsbx: fence: connection to %s (127.0.0.1:%d) not forwarded: %v\n", p.Name, p.Port, err)
					return
				}
				if !u.track(up) {
					return
				}
				defer u.untrack(up)
				splice(c, up)
			}()
		}
	}()
	return u, nil
}

func (u *UnixForward) track(c net.Conn) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conns == nil {
		_ = c.Close()
		return false
	}
	u.conns[c] = true
	return true
}

func (u *UnixForward) untrack(c net.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.conns, c)
	_ = c.Close()
}

// Close stops listening and closes every forwarded connection.
func (u *UnixForward) Close() error {
	err := u.l.Close()
	u.mu.Lock()
	for c := range u.conns {
		_ = c.Close()
	}
	u.conns = nil
	u.mu.Unlock()
	u.wg.Wait()
	return err
}

// splice copies both ways until both directions end.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(a, b)
	go pipe(b, a)
	<-done
	<-done
}
