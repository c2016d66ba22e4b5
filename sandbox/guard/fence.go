package guard

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The fence is what confines the commands labsbx runs for the user (a drill file's
// commands and command probes, `labsbx exec`, `labsbx ci exec`) to the sandbox, where
// the text check of runbook.go only reads what they say. On Linux such a command runs
// in a network namespace of its own (package sandbox/fence): its only interface is
// lo, and on 127.0.0.1 it finds a listener for each port the sandbox recorded, which
// labsbx, outside, forwards to the host's 127.0.0.1:<same port> after this sandbox's
// receiver proof. Any other address, loopback or not, has no route. Its HOME is the
// sandbox's own, inside the state dir.
//
// The guard decides three times: before the command starts (fenceChecks: which ports,
// which HOME), inside the namespace before the command is executed there
// (fenceInsideChecks: the namespace is a new one with nothing but lo, listening on
// exactly the approved ports), and for each connection the command opens
// (fence-receiver: the port's receiver proof, before and after the host connection).

// HomeDir is the name of the sandbox's own HOME inside its state dir.
const HomeDir = "home"

// FencePort is one port of the sandbox that a fenced command may reach, on 127.0.0.1.
type FencePort struct {
	// Name says what serves it: vault, postgres, kube-api, ssh vm-0.
	Name string
	Port int
	// Proof is the receiver proof of the container that serves the port; nil for a
	// port no container serves (a VM's SSH, which its QEMU forwards): then the port is
	// trusted as recorded, and the client's own check (SSH host key, the cluster CA)
	// identifies the server.
	Proof ReceiverProof
}

// FenceRequest is what a fenced command would get: the sandbox's ports, its HOME,
// and the caller's HOME (which it must not get).
type FenceRequest struct {
	Ports      []FencePort
	Home       string
	CallerHome string
}

// FenceApproval is the guard's approval of a FenceRequest; only ApproveFence makes one.
type FenceApproval struct {
	ports []FencePort
	home  string
	ok    bool
}

// Ports are the approved ports, in the order given.
func (a FenceApproval) Ports() []FencePort { return slices.Clone(a.ports) }

// Home is the approved HOME.
func (a FenceApproval) Home() string { return a.home }

// Approved reports whether the guard issued it.
func (a FenceApproval) Approved() bool { return a.ok }

type fenceRun struct {
	rec Record
	req FenceRequest
}

// ApproveFence runs fenceChecks on what a fenced command of the sandbox rec would
// reach. The report names every check that ran.
func ApproveFence(rec Record, req FenceRequest) (FenceApproval, Report, error) {
	rep := Report{Approved: true, Checks: []CheckResult{}}
	r := &fenceRun{rec: rec, req: req}
	if err := runSteps(&rep, "fence of sandbox "+strconv.Quote(rec.Name), fenceChecks, r); err != nil {
		return FenceApproval{}, rep, err
	}
	return FenceApproval{ports: slices.Clone(req.Ports), home: req.Home, ok: true}, rep, nil
}

func (r *fenceRun) record() (string, error) {
	if !validName(r.rec.Name) || r.rec.UUID == "" || !filepath.IsAbs(r.rec.StateDir) {
		return "", refusef("fence-record: sandbox %q has no complete record (name, UUID, absolute state dir)", r.rec.Name)
	}
	return "sandbox " + r.rec.Name, nil
}

func (r *fenceRun) ports() (string, error) {
	if len(r.req.Ports) == 0 {
		return "", refusef("fence-ports: sandbox %q records no port a command could reach; run `labsbx up --name %s`", r.rec.Name, r.rec.Name)
	}
	vaultPort := 0
	if r.rec.Vault != nil {
		if e, err := parseEndpoint(r.rec.Vault.Addr, "http", "https"); err == nil {
			vaultPort = e.port
		}
	}
	seen := map[int]string{}
	var names []string
	for _, p := range r.req.Ports {
		switch {
		case p.Name == "":
			return "", refusef("fence-ports: port %d has no name", p.Port)
		case p.Port < 1 || p.Port > 65535:
			return "", refusef("fence-ports: %s: port %d is not a TCP port", p.Name, p.Port)
		case seen[p.Port] != "":
			return "", refusef("fence-ports: port %d is given twice (%s, %s)", p.Port, seen[p.Port], p.Name)
		case p.Proof != nil && p.Proof.HostPort() != p.Port:
			return "", refusef("fence-ports: %s: the receiver proof is about port %d, not %d", p.Name, p.Proof.HostPort(), p.Port)
		case p.Name == "vault" && p.Port != vaultPort:
			return "", refusef("fence-ports: vault: port %d is not the recorded Vault address's", p.Port)
		}
		seen[p.Port] = p.Name
		names = append(names, fmt.Sprintf("%s 127.0.0.1:%d", p.Name, p.Port))
	}
	return strings.Join(names, ", "), nil
}

func (r *fenceRun) home() (string, error) {
	want := filepath.Join(r.rec.StateDir, HomeDir)
	h := r.req.Home
	if h != want {
		return "", refusef("fence-home: HOME %q is not the sandbox's own (%s)", h, want)
	}
	if r.req.CallerHome != "" && sameDir(h, r.req.CallerHome) {
		return "", refusef("fence-home: HOME %q is the caller's", h)
	}
	fi, err := os.Lstat(h)
	if err != nil {
		return "", refusef("fence-home: %w", err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return "", refusef("fence-home: %s is not a directory of mode 0700 (%s)", h, fi.Mode())
	}
	resolved, err := filepath.EvalSymlinks(h)
	if err != nil {
		return "", refusef("fence-home: %w", err)
	}
	stateResolved, err := filepath.EvalSymlinks(r.rec.StateDir)
	if err != nil || filepath.Dir(resolved) != stateResolved {
		return "", refusef("fence-home: %s resolves outside the state dir", h)
	}
	return h, nil
}

func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// FenceInterface is a network interface as a fenced child sees it.
type FenceInterface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []string // CIDR
}

// FenceInside is what a fenced child saw of its namespace, before it runs the command.
type FenceInside struct {
	// HostNetNS and NetNS name labsbx's network namespace and the child's
	// (/proc/<pid>/ns/net, "net:[inode]").
	HostNetNS, NetNS string
	Interfaces       []FenceInterface
	// Listening are the ports it listens on; Approved the ports it was given.
	Listening, Approved []int
}

// CheckFenceInside runs fenceInsideChecks on what a fenced child saw: a refusal means
// the command must not run.
func CheckFenceInside(in FenceInside) (Report, error) {
	rep := Report{Approved: true, Checks: []CheckResult{}}
	err := runSteps(&rep, "fenced namespace", fenceInsideChecks, &in)
	return rep, err
}

func (in *FenceInside) netns() (string, error) {
	if in.NetNS == "" || in.HostNetNS == "" {
		return "", refusef("fence-netns: the network namespace cannot be told from labsbx's (host %q, child %q)", in.HostNetNS, in.NetNS)
	}
	if in.NetNS == in.HostNetNS {
		return "", refusef("fence-netns: the command would run in labsbx's own network namespace (%s), where every address is reachable", in.NetNS)
	}
	return in.NetNS, nil
}

func (in *FenceInside) interfaces() (string, error) {
	up, idle := false, 0
	for _, i := range in.Interfaces {
		if !i.Loopback {
			// A new namespace holds a down tunnel device per tunnel module loaded
			// (sit0, tunl0, ip6tnl0): down and without an address, it routes nothing.
			if i.Up || len(i.Addrs) > 0 {
				return "", refusef("fence-interfaces: interface %s is not loopback: the namespace could reach other hosts", i.Name)
			}
			idle++
			continue
		}
		for _, a := range i.Addrs {
			ip, _, err := net.ParseCIDR(a)
			if err != nil || !ip.IsLoopback() {
				return "", refusef("fence-interfaces: %s has address %s, which is not loopback", i.Name, a)
			}
		}
		up = up || i.Up
	}
	if !up {
		return "", refusef("fence-interfaces: no loopback interface is up")
	}
	return fmt.Sprintf("%d loopback interface(s) up, %d other(s) down without an address", len(in.Interfaces)-idle, idle), nil
}

func (in *FenceInside) listeners() (string, error) {
	l, a := slices.Clone(in.Listening), slices.Clone(in.Approved)
	slices.Sort(l)
	slices.Sort(a)
	if !slices.Equal(l, a) {
		return "", refusef("fence-listeners: the namespace listens on %v, not on the approved ports %v", l, a)
	}
	return fmt.Sprintf("127.0.0.1:%v", l), nil
}

// ForwardDial opens the host connection behind one connection a fenced command opened
// to 127.0.0.1:p.Port: between two receiver proofs when a container serves the port
// (fence-receiver), else to the recorded port as is.
func ForwardDial(ctx context.Context, a FenceApproval, p FencePort) (net.Conn, error) {
	if !a.ok {
		return nil, zeroRefusal("FenceApproval")
	}
	if !slices.ContainsFunc(a.ports, func(q FencePort) bool { return q.Port == p.Port && q.Name == p.Name }) {
		return nil, refusef("fence-receiver: port %d (%s) is not approved", p.Port, p.Name)
	}
	e := endpoint{scheme: "tcp", host: "127.0.0.1", port: p.Port}
	d := newPinnedDialer(e)
	dial := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", e.hostPort()) }
	if p.Proof == nil {
		return dial(ctx)
	}
	c, err := proveDial(ctx, p.Proof, dial)
	if err != nil {
		return nil, fmt.Errorf("fence-receiver: %s 127.0.0.1:%d: %w", p.Name, p.Port, err)
	}
	return c, nil
}
