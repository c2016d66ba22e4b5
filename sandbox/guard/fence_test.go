package guard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fenceRecord is a sandbox whose state dir is a temp dir with its HOME made.
func fenceRecord(t *testing.T) (Record, string) {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, HomeDir)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return Record{Name: "fence", UUID: "0f1c2a3b-0000-4000-8000-000000000001", StateDir: dir,
		Vault: &VaultRecord{Addr: "http://127.0.0.1:18200"}}, home
}

func checkNames(rep Report) string {
	var names []string
	for _, c := range rep.Checks {
		names = append(names, fmt.Sprintf("%s=%v", c.Name, c.OK))
	}
	return strings.Join(names, " ")
}

// The fence lets through the sandbox's recorded ports with its own HOME, and the
// report names each check.
func TestApproveFence(t *testing.T) {
	rec, home := fenceRecord(t)
	ports := []FencePort{{Name: "vault", Port: 18200, Proof: stillProof{port: 18200}}, {Name: "postgres", Port: 15432, Proof: stillProof{port: 15432}}, {Name: "ssh vm-0", Port: 2222}}
	a, rep, err := ApproveFence(rec, FenceRequest{Ports: ports, Home: home, CallerHome: "/root"})
	if err != nil || !a.Approved() || a.Home() != home || len(a.Ports()) != 3 {
		t.Fatalf("approve: %v %+v", err, a)
	}
	if got := checkNames(rep); got != "fence-record=true fence-ports=true fence-home=true" {
		t.Errorf("checks: %s", got)
	}
}

// Every way the fence could let more through is refused, by a named check.
func TestApproveFenceRefuses(t *testing.T) {
	rec, home := fenceRecord(t)
	vault := FencePort{Name: "vault", Port: 18200, Proof: stillProof{port: 18200}}
	loose := filepath.Join(rec.StateDir, "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		label string
		rec   Record
		req   FenceRequest
		want  string
	}{
		{"no record", Record{Name: "fence"}, FenceRequest{Ports: []FencePort{vault}, Home: home}, "fence-record"},
		{"no port", rec, FenceRequest{Home: home}, "fence-ports"},
		{"port twice", rec, FenceRequest{Ports: []FencePort{vault, {Name: "postgres", Port: 18200}}, Home: home}, "fence-ports: port 18200 is given twice"},
		{"not a port", rec, FenceRequest{Ports: []FencePort{{Name: "x", Port: 70000}}, Home: home}, "fence-ports"},
		{"proof of another port", rec, FenceRequest{Ports: []FencePort{{Name: "postgres", Port: 15432, Proof: stillProof{port: 5432}}}, Home: home}, "receiver proof is about port 5432"},
		{"not the recorded Vault", rec, FenceRequest{Ports: []FencePort{{Name: "vault", Port: 8200}}, Home: home}, "not the recorded Vault"},
		{"caller's HOME", rec, FenceRequest{Ports: []FencePort{vault}, Home: "/root", CallerHome: "/root"}, "fence-home"},
		{"HOME is the caller's by identity", rec, FenceRequest{Ports: []FencePort{vault}, Home: home, CallerHome: home + "/."}, "is the caller's"},
		{"HOME elsewhere in the state dir", rec, FenceRequest{Ports: []FencePort{vault}, Home: loose}, "fence-home"},
	} {
		_, rep, err := ApproveFence(tc.rec, tc.req)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a refusal naming %q", tc.label, err, tc.want)
		}
		if rep.Approved || len(rep.Checks) == 0 || rep.Checks[len(rep.Checks)-1].OK {
			t.Errorf("%s: report %+v", tc.label, rep)
		}
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ApproveFence(rec, FenceRequest{Ports: []FencePort{vault}, Home: home}); err == nil || !strings.Contains(err.Error(), "mode 0700") {
		t.Errorf("a HOME others can read: %v", err)
	}
}

// The fenced child runs the command only in a namespace of its own, with nothing but
// loopback, listening on exactly the approved ports.
func TestCheckFenceInside(t *testing.T) {
	lo := FenceInterface{Name: "lo", Up: true, Loopback: true, Addrs: []string{"127.0.0.1/8", "::1/128"}}
	good := FenceInside{HostNetNS: "net:[1]", NetNS: "net:[2]", Interfaces: []FenceInterface{lo}, Listening: []int{2, 1}, Approved: []int{1, 2}}
	if rep, err := CheckFenceInside(good); err != nil || checkNames(rep) != "fence-netns=true fence-interfaces=true fence-listeners=true" {
		t.Fatalf("good: %v %s", err, checkNames(rep))
	}
	tunnels := good
	tunnels.Interfaces = []FenceInterface{lo, {Name: "tunl0"}, {Name: "sit0"}}
	if _, err := CheckFenceInside(tunnels); err != nil {
		t.Errorf("a new namespace's idle tunnel devices: %v", err)
	}
	for _, tc := range []struct {
		label string
		edit  func(*FenceInside)
		want  string
	}{
		{"labsbx's own namespace", func(in *FenceInside) { in.NetNS = in.HostNetNS }, "fence-netns"},
		{"namespace unknown", func(in *FenceInside) { in.NetNS = "" }, "fence-netns"},
		{"an interface to a network", func(in *FenceInside) {
			in.Interfaces = append(in.Interfaces, FenceInterface{Name: "eth0", Up: true, Addrs: []string{"192.0.2.2/24"}})
		}, "fence-interfaces: interface eth0"},
		{"a tunnel device up", func(in *FenceInside) {
			in.Interfaces = append(in.Interfaces, FenceInterface{Name: "sit0", Up: true})
		}, "fence-interfaces: interface sit0"},
		{"a LAN address on lo", func(in *FenceInside) {
			in.Interfaces = []FenceInterface{{Name: "lo", Up: true, Loopback: true, Addrs: []string{"10.0.0.1/32"}}}
		}, "fence-interfaces: lo has address 10.0.0.1/32"},
		{"lo down", func(in *FenceInside) { in.Interfaces = []FenceInterface{{Name: "lo", Loopback: true}} }, "fence-interfaces: no loopback interface is up"},
		{"a port too many", func(in *FenceInside) { in.Listening = []int{1, 2, 3} }, "fence-listeners"},
	} {
		in := good
		in.Interfaces = append([]FenceInterface(nil), good.Interfaces...)
		tc.edit(&in)
		if _, err := CheckFenceInside(in); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a refusal naming %q", tc.label, err, tc.want)
		}
	}
}

// A forwarded connection goes only to an approved port, after its receiver proof.
func TestForwardDial(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	rec, home := fenceRecord(t)
	rec.Vault = nil
	p := FencePort{Name: "postgres", Port: port, Proof: stillProof{port: port}}
	a, _, err := ApproveFence(rec, FenceRequest{Ports: []FencePort{p}, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ForwardDial(context.Background(), a, p)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, err := ForwardDial(context.Background(), a, FencePort{Name: "postgres", Port: port + 1}); !errors.Is(err, ErrRefused) {
		t.Errorf("a port not approved: %v", err)
	}
	if _, err := ForwardDial(context.Background(), FenceApproval{}, p); !errors.Is(err, ErrRefused) {
		t.Errorf("a zero approval: %v", err)
	}
	down := FencePort{Name: "postgres", Port: port, Proof: stillProof{port: port, err: ErrReceiverDown}}
	a, _, _ = ApproveFence(rec, FenceRequest{Ports: []FencePort{down}, Home: home})
	if _, err := ForwardDial(context.Background(), a, down); !errors.Is(err, ErrReceiverDown) || !strings.Contains(err.Error(), "fence-receiver") {
		t.Errorf("a receiver that is down: %v", err)
	}
}
