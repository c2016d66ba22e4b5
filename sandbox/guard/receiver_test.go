package guard

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

func inspected(id string, labels map[string]string, running bool, started string, bindings ...nat.PortBinding) container.InspectResponse {
	ns := &container.NetworkSettings{}
	ns.Ports = nat.PortMap{"8200/tcp": bindings}
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Running: running, StartedAt: started}},
		Config:            &container.Config{Labels: labels},
		NetworkSettings:   ns,
	}
	return c
}

// TestJudgeReceiver: only the recorded, labelled, running container that publishes
// the recorded port on 127.0.0.1 is a receiver; a stopped one is "down", not refused.
func TestJudgeReceiver(t *testing.T) {
	rec := Record{Name: "demo", UUID: fxUUID}
	ours := map[string]string{LabelSandbox: "demo", LabelUUID: fxUUID}
	node := map[string]string{LabelUUID: fxUUID, LabelComponent: "k3d"}
	bind := nat.PortBinding{HostIP: "127.0.0.1", HostPort: "41234"}
	r := Receiver{Record: rec, Container: "labsbx-demo-vault", ContainerID: "c1", ContainerPort: 8200, HostPort: 41234}
	nodeR := r
	nodeR.Node, nodeR.ContainerID = true, ""
	cases := []struct {
		name string
		c    container.InspectResponse
		r    Receiver
		want string // "ok", "down" or "refused"
	}{
		{"ours", inspected("c1", ours, true, "t0", bind), r, "ok"},
		{"a k3d node", inspected("n1", node, true, "t0", bind), nodeR, "ok"},
		{"stopped", inspected("c1", ours, false, "t0", bind), r, "stopped"},
		{"another container ID", inspected("c2", ours, true, "t0", bind), r, "refused"},
		{"another UUID", inspected("c1", map[string]string{LabelSandbox: "demo", LabelUUID: "other"}, true, "t0", bind), r, "refused"},
		{"the name only", inspected("c1", map[string]string{LabelSandbox: "demo"}, true, "t0", bind), r, "refused"},
		{"a node without the k3d label", inspected("n1", map[string]string{LabelUUID: fxUUID}, true, "t0", bind), nodeR, "refused"},
		{"another host port", inspected("c1", ours, true, "t0", nat.PortBinding{HostIP: "127.0.0.1", HostPort: "1"}), r, "refused"},
		{"published on all addresses only", inspected("c1", ours, true, "t0", nat.PortBinding{HostIP: "0.0.0.0", HostPort: "41234"}), r, "refused"},
		{"no UUID recorded", inspected("c1", ours, true, "t0", bind), Receiver{Record: Record{Name: "demo"}, Container: "x", HostPort: 41234, ContainerPort: 8200}, "refused"},
	}
	for _, tc := range cases {
		epoch, err := judgeReceiver(tc.c, tc.r)
		got := "ok"
		switch {
		case errors.Is(err, ErrReceiverDown):
			got = "down"
		case errors.Is(err, ErrReceiverStopped):
			got = "stopped"
		case errors.Is(err, ErrRefused):
			got = "refused"
		case err != nil:
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.name, got, err, tc.want)
		}
		if got == "ok" && epoch == "" {
			t.Errorf("%s: no epoch", tc.name)
		}
	}
	if err := ApproveEngine(Record{Name: "demo", EngineID: "A"}, "B"); !errors.Is(err, ErrRefused) {
		t.Errorf("another engine = %v", err)
	}
	if err := ApproveEngine(Record{Name: "demo", EngineID: "A"}, "A"); err != nil {
		t.Errorf("the recorded engine = %v", err)
	}
	// Same ID, another data root: a second engine with the host's trust key.
	host := EngineIdentity("ID:SHARED", "/var/lib/docker")
	if err := ApproveEngine(Record{Name: "demo", EngineID: EngineIdentity("ID:SHARED", "/tmp/engine/data")}, host); !errors.Is(err, ErrRefused) {
		t.Errorf("another engine with the same ID = %v", err)
	}
	if err := ApproveEngine(Record{Name: "demo", EngineID: host}, host); err != nil {
		t.Errorf("the recorded engine = %v", err)
	}
	// A record of an older labsbx holds the ID only.
	if err := ApproveEngine(Record{Name: "demo", EngineID: "ID:SHARED"}, host); err != nil || !LegacyEngineID("ID:SHARED", host) {
		t.Errorf("a legacy record of the same ID = %v", err)
	}
}

// flipProof proves a port with a scripted sequence of epochs and errors.
type flipProof struct {
	port   int
	epochs []string
	errs   []error
	n      atomic.Int64
}

func (p *flipProof) HostPort() int { return p.port }
func (p *flipProof) Prove(context.Context) (string, error) {
	i := int(p.n.Add(1)) - 1
	if i < len(p.errs) && p.errs[i] != nil {
		return "", p.errs[i]
	}
	if i < len(p.epochs) {
		return p.epochs[i], nil
	}
	return "late", nil
}

// TestProvenDialer: a connection is handed out only between two equal proofs; a down
// receiver is never dialled; another address is refused before any dial.
func TestProvenDialer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx := context.Background()

	down := &flipProof{port: port, errs: []error{ErrReceiverDown}}
	if _, err := ProvenDialer(down)(ctx, "tcp", addr); !errors.Is(err, ErrReceiverDown) {
		t.Errorf("a receiver that is down: %v", err)
	}
	if _, err := ProvenDialer(&flipProof{port: port})(ctx, "tcp", "127.0.0.1:1"); !errors.Is(err, ErrRefused) {
		t.Errorf("another address: %v", err)
	}
	restarted := &flipProof{port: port, epochs: []string{"c1@t0", "c1@t1"}}
	if c, err := ProvenDialer(restarted)(ctx, "tcp", addr); !errors.Is(err, ErrReceiverDown) {
		t.Errorf("a restart during the dial: %v", err)
		if c != nil {
			c.Close()
		}
	}
	before := accepted.Load()
	c, err := ProvenDialer(&flipProof{port: port, epochs: []string{"c1@t0", "c1@t0"}})(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("a proven receiver: %v", err)
	}
	c.Close()
	if before > 1 {
		t.Errorf("%d connections before the proven one; want at most the restarted one", before)
	}
}

// TestVaultClientNeedsAReceiverProof: no approval hands out a client that can carry a
// token without a proof, and a proof of another port is refused.
func TestVaultClientNeedsAReceiverProof(t *testing.T) {
	f := newFakeVault(t, true, false, "c0ffee")
	rec := vaultRecord(f.srv.URL, "c0ffee")
	if _, err := ApproveVault(context.Background(), rec, nil); !errors.Is(err, ErrRefused) {
		t.Errorf("ApproveVault without a proof = %v", err)
	}
	if _, err := ApproveVault(context.Background(), rec, stillProof{port: 1}); !errors.Is(err, ErrRefused) {
		t.Errorf("ApproveVault with a proof of another port = %v", err)
	}
	if n := len(f.requests); n != 0 {
		t.Errorf("the Vault got %d requests before a proof", n)
	}
	down := stillProof{port: proofFor(f.srv.URL).HostPort(), err: ErrReceiverDown}
	if _, err := ApproveVault(context.Background(), rec, down); !errors.Is(err, ErrReceiverDown) {
		t.Errorf("ApproveVault while the container is down = %v", err)
	}
	if n := len(f.requests); n != 0 {
		t.Errorf("the Vault got %d requests while its container was down", n)
	}
}
