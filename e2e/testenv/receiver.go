package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
)

// The guard sends no token, key or password to a port until it is proven that the
// sandbox's own process serves it. In production Docker proves it (the labelled
// container publishes the port); the servers of this package are the test's own, and
// these proofs check them as really: the listening socket belongs to the child
// process, or Docker shows the test's container running and publishing the port.

// processReceiver proves that a child process of the test listens on 127.0.0.1:port,
// from /proc: the socket in LISTEN state on that address is one of the process's open
// files. The epoch is the PID and the socket's inode.
type processReceiver struct{ pid, port int }

func (p processReceiver) HostPort() int { return p.port }

func (p processReceiver) Prove(context.Context) (string, error) {
	inode, err := listeningInode(p.port)
	if err != nil {
		return "", err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		return "", fmt.Errorf("%w: process %d: %w", guard.ErrReceiverDown, p.pid, err)
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.pid, fd.Name())); err == nil && l == want {
			return strconv.Itoa(p.pid) + "/" + inode, nil
		}
	}
	return "", fmt.Errorf("127.0.0.1:%d is not served by process %d", p.port, p.pid)
}

// listeningInode finds the inode of the TCP socket listening on 127.0.0.1:port.
func listeningInode(port int) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	local := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 9 && fs[1] == local && fs[3] == "0A" { // 0A: LISTEN
			return fs[9], nil
		}
	}
	return "", fmt.Errorf("%w: nothing listens on 127.0.0.1:%d", guard.ErrReceiverDown, port)
}

// Receiver proves that the Vault server's port is served by its process.
func (s *VaultServer) Receiver() guard.ReceiverProof {
	return processReceiver{pid: s.pid, port: s.port}
}

// containerReceiver proves, through Docker, that the test's Postgres container runs
// and publishes its port. The epoch is its start time.
type containerReceiver struct{ s *PostgresServer }

func (p containerReceiver) HostPort() int { n, _ := strconv.Atoi(p.s.Port); return n }

func (p containerReceiver) Prove(ctx context.Context) (string, error) {
	c, err := p.s.Container.Inspect(ctx)
	if err != nil {
		return "", err
	}
	if c.State == nil || !c.State.Running {
		return "", fmt.Errorf("%w: the test's Postgres container is not running", guard.ErrReceiverDown)
	}
	for _, b := range c.NetworkSettings.Ports["5432/tcp"] {
		if b.HostPort == p.s.Port {
			return c.ID + "@" + c.State.StartedAt, nil
		}
	}
	return "", fmt.Errorf("the test's Postgres container does not publish port %s", p.s.Port)
}

// Endpoint is an endpoint of the test's Postgres as user, with the guard's proven
// dialer (the password goes only to this container).
func (s *PostgresServer) Endpoint(user, password, database string) postgres.Endpoint {
	port, _ := strconv.Atoi(s.Port)
	return postgres.Endpoint{Host: "127.0.0.1", Port: port, User: user, Password: password, Database: database,
		Dial: guard.ProvenDialer(containerReceiver{s})}
}
