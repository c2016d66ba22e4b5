package guard

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/go-connections/nat"
)

// ErrReceiverDown means that the container which must serve a port is starting (or
// restarting) and does not publish it yet. It is not a refusal: a wait treats it as
// "not answering yet". Nothing is sent meanwhile.
var ErrReceiverDown error = &receiverError{"the sandbox's container is not serving yet", true}

// ErrReceiverStopped means that the container which must serve a port is stopped:
// nothing is sent, and nothing will answer until it is started.
var ErrReceiverStopped error = &receiverError{"the sandbox's container is stopped", false}

// receiverError says for itself whether a wait should go on (internal/wait).
type receiverError struct {
	msg     string
	waiting bool
}

func (e *receiverError) Error() string         { return e.msg }
func (e *receiverError) NotAnsweringYet() bool { return e.waiting }

// ReceiverProof proves that a local port is served by the sandbox's own process, not
// merely that something answers there: before a token, key or password leaves labsbx,
// the connection it goes over is opened between two proofs (see proveDial). Prove
// returns an epoch that changes whenever the serving process may have changed.
type ReceiverProof interface {
	Prove(ctx context.Context) (epoch string, err error)
	// HostPort is the port on 127.0.0.1 that the proof is about.
	HostPort() int
}

// Receiver names the container that must publish a port before a secret is sent there.
type Receiver struct {
	// Record is the sandbox: its name, its UUID and the Docker engine it was made on.
	Record Record
	// Container is the container's name; ContainerID the ID recorded at creation ("" for
	// a k3d node, which its UUID label proves).
	Container, ContainerID string
	// Node marks a k3d node (labels: the sandbox UUID and component k3d), which
	// publishes the cluster's NodePorts.
	Node bool
	// ContainerPort is the port in the container; HostPort the one on 127.0.0.1.
	ContainerPort, HostPort int
}

// containerReceiver proves a Receiver through the approved Docker engine.
type containerReceiver struct {
	a DockerApproval
	r Receiver

	mu     sync.Mutex
	engine bool // the engine's identity was checked
}

// Receiver returns the proof that r's container, on this approved engine (the one the
// sandbox recorded), runs and publishes r.HostPort.
func (a DockerApproval) Receiver(r Receiver) ReceiverProof { return &containerReceiver{a: a, r: r} }

func (p *containerReceiver) HostPort() int { return p.r.HostPort }

func (p *containerReceiver) Prove(ctx context.Context) (string, error) {
	c, err := p.a.Client()
	if err != nil {
		return "", err
	}
	defer c.Close()
	run := &receiverRun{r: p.r}
	p.mu.Lock()
	checked := p.engine
	p.mu.Unlock()
	if !checked {
		info, err := c.Info(ctx)
		if err != nil {
			return "", fmt.Errorf("asking the Docker engine who it is: %w", err)
		}
		run.engine = EngineIdentityOf(info)
	}
	run.inspect = func() (container.InspectResponse, error) { return c.ContainerInspect(ctx, p.r.Container) }
	if err := runReceiverChecks(run); err != nil {
		return "", err
	}
	p.mu.Lock()
	p.engine = true
	p.mu.Unlock()
	return run.epoch, nil
}

// receiverRun is one proof of a Receiver: what the engine and Docker's view of the
// container say, judged by receiverChecks (checks.go).
type receiverRun struct {
	r Receiver
	// engine is the identity of the engine that answered; "" once this proof has
	// checked it.
	engine string
	// inspect asks Docker for the container, once the engine is approved (nil: c is
	// given).
	inspect func() (container.InspectResponse, error)
	c       container.InspectResponse
	// epoch is the container's ID and start time, once receiver-publishes passed.
	epoch string
}

// runReceiverChecks runs receiverChecks in order and returns the first failure as the
// check gave it: a refusal, or ErrReceiverDown / ErrReceiverStopped (the container is
// ours but not serving), which callers wait on rather than refuse.
func runReceiverChecks(x *receiverRun) error {
	for _, st := range receiverChecks {
		if _, err := st.run(x); err != nil {
			return err
		}
	}
	return nil
}

// judgeReceiver decides from Docker's view of a container whether it is the sandbox's
// own, running, and publishing r.ContainerPort on 127.0.0.1:r.HostPort (the engine
// already proven). The epoch is the container's ID and start time.
func judgeReceiver(c container.InspectResponse, r Receiver) (string, error) {
	x := &receiverRun{r: r, c: c}
	if err := runReceiverChecks(x); err != nil {
		return "", err
	}
	return x.epoch, nil
}

func (x *receiverRun) engineIdentity() (string, error) {
	if x.engine == "" {
		return "proven before", nil
	}
	return x.engine, ApproveEngine(x.r.Record, x.engine)
}

func (x *receiverRun) labels() (string, error) {
	if x.inspect != nil {
		c, err := x.inspect()
		if err != nil {
			return "", fmt.Errorf("container %s, which must serve 127.0.0.1:%d: %w", x.r.Container, x.r.HostPort, err)
		}
		x.c, x.inspect = c, nil
	}
	var labels map[string]string
	if x.c.Config != nil {
		labels = x.c.Config.Labels
	}
	r, rec := x.r, x.r.Record
	switch {
	case rec.UUID == "":
		return "", refusef("no sandbox UUID is recorded to prove container %s ours", r.Container)
	case r.Node && (labels[LabelUUID] != rec.UUID || labels[LabelComponent] != "k3d"):
		return "", refusef("container %s is not a k3d node of sandbox %q (label %s=%q)", r.Container, rec.Name, LabelUUID, labels[LabelUUID])
	case !r.Node && Owner(labels, rec.Name, rec.UUID) != Ours:
		return "", refusef("container %s does not carry sandbox %q's UUID %s", r.Container, rec.Name, rec.UUID)
	}
	return rec.UUID, nil
}

func (x *receiverRun) recorded() (string, error) {
	if x.r.ContainerID != "" && x.c.ID != x.r.ContainerID {
		return "", refusef("container %s is not the one labsbx recorded (%.12s)", x.r.Container, x.r.ContainerID)
	}
	return x.c.ID, nil
}

func (x *receiverRun) running() (string, error) {
	r, c := x.r, x.c
	switch {
	case c.State == nil || c.State.Restarting:
		return "", fmt.Errorf("%w: container %s is restarting", ErrReceiverDown, r.Container)
	case !c.State.Running || c.State.Paused:
		return "", fmt.Errorf("%w: container %s is not running; start it with `labsbx up --name %s`", ErrReceiverStopped, r.Container, r.Record.Name)
	}
	return "running since " + c.State.StartedAt, nil
}

func (x *receiverRun) publishes() (string, error) {
	r, c := x.r, x.c
	if c.NetworkSettings == nil {
		return "", fmt.Errorf("%w: container %s publishes no port yet", ErrReceiverDown, r.Container)
	}
	want := strconv.Itoa(r.HostPort)
	for _, b := range c.NetworkSettings.Ports[nat.Port(strconv.Itoa(r.ContainerPort)+"/tcp")] {
		if b.HostIP == "127.0.0.1" && b.HostPort == want {
			x.epoch = c.ID + "@" + c.State.StartedAt
			return "127.0.0.1:" + want, nil
		}
	}
	return "", refusef("container %s does not publish 127.0.0.1:%d: something else may be listening there", r.Container, r.HostPort)
}

// EngineIdentity is how the guard knows a Docker engine: its ID and its data root. The
// ID alone does not tell two engines apart: it comes from the engine's trust key, which a
// second dockerd on the same machine shares (the private engine of the test tier reports
// the host engine's ID). Two running engines cannot share a data root.
func EngineIdentity(id, rootDir string) string { return id + " " + rootDir }

// EngineIdentityOf is the EngineIdentity of the engine that answered info: every place
// that asks an engine who it is goes through it, so that none compares the ID alone.
func EngineIdentityOf(info system.Info) string {
	return EngineIdentity(info.ID, info.DockerRootDir)
}

// ApproveEngine decides whether the Docker engine whose identity (EngineIdentity) is id
// is the one the sandbox was created on. A sandbox that recorded no engine yet is
// approved; `up` records it. One that recorded only the ID (an older labsbx) is
// approved when the ID matches; `up` then records the data root too.
func ApproveEngine(rec Record, id string) error {
	if rec.EngineID == "" || id == rec.EngineID || LegacyEngineID(rec.EngineID, id) {
		return nil
	}
	return refusef("the Docker engine that answers is not the one sandbox %q was created on (engine %s, recorded %s): another engine is behind the same socket or DOCKER_HOST; point DOCKER_HOST at the sandbox's engine", rec.Name, id, rec.EngineID)
}

// LegacyEngineID reports whether recorded is an engine ID alone (no data root) that
// matches the identity id.
func LegacyEngineID(recorded, id string) bool {
	engineID, _, _ := strings.Cut(id, " ")
	return recorded != "" && !strings.Contains(recorded, " ") && recorded == engineID
}

// proveDial opens a TCP connection to 127.0.0.1:port only between two proofs with the
// same epoch: the container published the port, without a restart, from before the
// dial until after it, so the connection reached it and nothing else. A container that
// is down fails with ErrReceiverDown before anything is dialled.
func proveDial(ctx context.Context, p ReceiverProof, dial func(ctx context.Context) (net.Conn, error)) (net.Conn, error) {
	before, err := p.Prove(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	after, err := p.Prove(ctx)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if after != before {
		_ = conn.Close()
		return nil, fmt.Errorf("%w: the container serving 127.0.0.1:%d restarted while labsbx connected", ErrReceiverDown, p.HostPort())
	}
	return conn, nil
}

// ProvenDialer is a dialer for a client that sends secrets to 127.0.0.1:proof's port
// (a Postgres driver): it dials that address only, over TCP, between two proofs.
func ProvenDialer(p ReceiverProof) func(ctx context.Context, network, addr string) (net.Conn, error) {
	e := endpoint{scheme: "tcp", host: "127.0.0.1", port: p.HostPort()}
	d := newPinnedDialer(e)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != e.hostPort() {
			return nil, refusef("dial to %q refused: this client is pinned to %q", addr, e.hostPort())
		}
		return proveDial(ctx, p, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, network, addr) })
	}
}
