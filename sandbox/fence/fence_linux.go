package fence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// The child inherits two sockets: the control socket (fd 3, closed when the command
// is executed) and the relay socket (fd 4, left open for labsbx run inside).
const (
	ctlFD   = 3
	relayFD = 4
)

// childExitRefused is the exit status of a fenced child that refused to run the
// command; Finish replaces it with the refusal.
const childExitRefused = 125

// ctlMessage is what the child tells labsbx once, before it executes the command.
type ctlMessage struct {
	Ports   []int  `json:"ports,omitempty"` // the listeners passed along, in order
	Refused string `json:"refused,omitempty"`
}

// setNamespaces makes cmd start in a new user and network namespace, as the calling
// user (identity map). It changes only these fields of SysProcAttr.
func setNamespaces(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	a := cmd.SysProcAttr
	a.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
	uid, gid := os.Getuid(), os.Getgid()
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
	a.GidMappingsEnableSetgroups = false
	// An unprivileged user's child loses its capabilities in the new namespace when it
	// executes labsbx; these two stay (ambient) until Child drops them before it runs
	// the command: bring lo up, listen on a port below 1024.
	for _, c := range []uintptr{unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE} {
		if !slices.Contains(a.AmbientCaps, c) {
			a.AmbientCaps = append(a.AmbientCaps, c)
		}
	}
}

func hostNetNS() (string, error) { return os.Readlink("/proc/self/ns/net") }

func probe() (bool, string) {
	self, err := os.Executable()
	if err != nil {
		return false, "cannot find labsbx's own executable: " + err.Error()
	}
	ns, err := hostNetNS()
	if err != nil {
		return false, "cannot read labsbx's network namespace: " + err.Error()
	}
	cmd := exec.Command(self, ChildCommand, "probe", ns)
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setNamespaces(cmd)
	if err := cmd.Run(); err != nil {
		why := strings.TrimSpace(out.String())
		if why == "" {
			why = err.Error()
		}
		return false, "user and network namespaces are refused: " + why
	}
	return true, ""
}

func (f *Fence) wrap(ctx context.Context, cmd *exec.Cmd) (*Running, error) {
	if len(cmd.ExtraFiles) > 0 {
		return nil, errors.New("fence: the command already has extra files")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	ns, err := hostNetNS()
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	ctl, err := socketpair(unix.SOCK_SEQPACKET)
	if err != nil {
		return nil, err
	}
	relay, err := socketpair(unix.SOCK_DGRAM)
	if err != nil {
		closeAll(ctl[:]...)
		return nil, err
	}
	ports := f.Approval.Ports()
	list := make([]string, len(ports))
	for i, p := range ports {
		list[i] = strconv.Itoa(p.Port)
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Args = append([]string{self, ChildCommand, ns, strings.Join(list, ","), cmd.Path, "--"}, cmd.Args...)
	cmd.Path = self
	cmd.ExtraFiles = []*os.File{ctl[1], relay[1]}
	setNamespaces(cmd)

	log := f.Log
	if log == nil {
		log = cmd.Stderr
	}
	if log == nil {
		log = io.Discard
	}
	ctlConn, err := unixConn(ctl[0])
	if err != nil {
		closeAll(ctl[1], relay[0], relay[1])
		return nil, err
	}
	relayConn, err := unixConn(relay[0])
	if err != nil {
		closeAll(ctl[1], relay[1])
		_ = ctlConn.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &fenced{f: f, ctx: ctx, log: log, ctl: ctlConn, relay: relayConn, childEnds: []*os.File{ctl[1], relay[1]},
		env: env, self: self, conns: map[net.Conn]bool{}, received: make(chan struct{})}
	go r.receive(ports)
	r.wg.Add(1)
	go r.serveRelay()
	return &Running{finish: func(runErr error) error {
		defer cancel()
		return r.finish(runErr, cancel)
	}}, nil
}

func socketpair(typ int) ([2]*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return [2]*os.File{}, fmt.Errorf("fence: socketpair: %w", err)
	}
	return [2]*os.File{os.NewFile(uintptr(fds[0]), "fence"), os.NewFile(uintptr(fds[1]), "fence-child")}, nil
}

// unixConn makes f a connection of the runtime's poller (Close wakes a reader), and
// closes f.
func unixConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		_ = c.Close()
		return nil, errors.New("fence: not a unix socket")
	}
	return uc, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}

// fenced is labsbx's side of one fence.
type fenced struct {
	f         *Fence
	ctx       context.Context
	log       io.Writer
	ctl       *net.UnixConn
	relay     *net.UnixConn
	childEnds []*os.File
	env       []string
	self      string

	received chan struct{}
	refused  error

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]bool
	wg        sync.WaitGroup
}

// receive reads the child's one message: the listeners, or its refusal.
func (r *fenced) receive(approved []guard.FencePort) {
	defer close(r.received)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*len(approved)+4))
	n, oobn, _, _, err := r.ctl.ReadMsgUnix(buf, oob)
	if err != nil || n == 0 {
		return // the child ended before it said anything: cmd.Run reports why
	}
	files := rightsOf(oob[:oobn])
	var msg ctlMessage
	if err := json.Unmarshal(buf[:n], &msg); err != nil {
		closeAll(files...)
		r.refused = &guard.Refusal{Reason: "fence: the fenced child sent an unreadable message"}
		return
	}
	if msg.Refused != "" {
		closeAll(files...)
		r.refused = &guard.Refusal{Reason: msg.Refused}
		return
	}
	if len(files) != len(msg.Ports) {
		closeAll(files...)
		r.refused = &guard.Refusal{Reason: "fence: the fenced child passed a listener count that does not match its ports"}
		return
	}
	for i, port := range msg.Ports {
		l, err := net.FileListener(files[i])
		_ = files[i].Close()
		var p *guard.FencePort
		for j := range approved {
			if approved[j].Port == port {
				p = &approved[j]
			}
		}
		if err != nil || p == nil {
			if l != nil {
				_ = l.Close()
			}
			continue
		}
		r.mu.Lock()
		r.listeners = append(r.listeners, l)
		r.mu.Unlock()
		r.wg.Add(1)
		go r.accept(l, *p)
	}
}

func rightsOf(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "fence-listener"))
		}
	}
	return files
}

func (r *fenced) accept(l net.Listener, p guard.FencePort) {
	defer r.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			return
		}
		r.wg.Add(1)
		go r.forward(c, p)
	}
}

// track records a connection to close at Finish; false once the fence is down.
func (r *fenced) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		_ = c.Close()
		return false
	}
	r.conns[c] = true
	return true
}

func (r *fenced) untrack(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
	_ = c.Close()
}

// forward connects c to the host's port p after the guard's proof (ForwardDial).
func (r *fenced) forward(c net.Conn, p guard.FencePort) {
	defer r.wg.Done()
	defer r.untrack(c)
	up, err := guard.ForwardDial(r.ctx, r.f.Approval, p)
	if err != nil {
		fmt.Fprintf(r.log, "labsbx: fence: connection to %s (127.0.0.1:%d) not forwarded: %v\n", p.Name, p.Port, err)
		return
	}
	if !r.track(up) {
		return
	}
	defer r.untrack(up)
	splice(c, up)
}

func (r *fenced) finish(runErr error, cancel context.CancelFunc) error {
	// The child's ends: once they are closed here, the control socket says EOF if the
	// child never wrote.
	closeAll(r.childEnds...)
	select {
	case <-r.received:
	case <-time.After(5 * time.Second):
	}
	_ = r.ctl.Close()
	cancel()
	_ = r.relay.Close()
	r.mu.Lock()
	for _, l := range r.listeners {
		_ = l.Close()
	}
	for c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
	var exit *exec.ExitError
	if r.refused != nil && (runErr == nil || errors.As(runErr, &exit) && exit.ExitCode() == childExitRefused) {
		return r.refused
	}
	return runErr
}

// Child is `labsbx __fence <host netns> <ports> <path> -- <argv>`: it runs in the new
// namespaces, brings lo up, listens on each port, asks the guard (CheckFenceInside),
// passes the listeners to labsbx, and becomes the command. `labsbx __fence probe <host
// netns>` only checks that a fence can be built.
func Child(args []string) int {
	if len(args) == 2 && args[0] == "probe" {
		if err := loUp(); err != nil {
			fmt.Fprintf(os.Stderr, "bring lo up: %v\n", err)
			return 1
		}
		if _, err := guard.CheckFenceInside(inside(args[1], nil, nil)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	if len(args) < 5 || args[3] != "--" {
		fmt.Fprintln(os.Stderr, "labsbx: __fence is labsbx's own and takes no command line of yours")
		return 2
	}
	unix.CloseOnExec(ctlFD)
	ctl := os.NewFile(ctlFD, "fence-ctl")
	refuse := func(format string, a ...any) int {
		reason := fmt.Sprintf(format, a...)
		b, _ := json.Marshal(ctlMessage{Refused: reason})
		if err := unix.Sendmsg(int(ctl.Fd()), b, nil, nil, 0); err != nil {
			fmt.Fprintln(os.Stderr, "refused: "+reason)
		}
		return childExitRefused
	}
	hostNS, path, argv := args[0], args[2], args[4:]
	var approved []int
	for _, s := range strings.Split(args[1], ",") {
		if s == "" {
			continue
		}
		p, err := strconv.Atoi(s)
		if err != nil {
			return refuse("fence-ports: %q is not a port", s)
		}
		approved = append(approved, p)
	}
	if err := loUp(); err != nil {
		return refuse("fence-interfaces: bring lo up: %v", err)
	}
	var files []*os.File
	var listening []int
	for _, p := range approved {
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			return refuse("fence-listeners: listen on 127.0.0.1:%d: %v", p, err)
		}
		f, err := l.File()
		if err != nil {
			return refuse("fence-listeners: %v", err)
		}
		files = append(files, f)
		listening = append(listening, p)
	}
	if _, err := guard.CheckFenceInside(inside(hostNS, listening, approved)); err != nil {
		var rf *guard.Refusal
		if errors.As(err, &rf) {
			return refuse("%s", rf.Reason)
		}
		return refuse("%v", err)
	}
	b, _ := json.Marshal(ctlMessage{Ports: listening})
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if err := unix.Sendmsg(int(ctl.Fd()), b, unix.UnixRights(fds...), nil, 0); err != nil {
		fmt.Fprintf(os.Stderr, "labsbx: fence: %v\n", err)
		return childExitRefused
	}
	// The command gets no ambient capability of the fence's (an unprivileged user's has
	// none left then; root's are root's of the new namespaces only, which own nothing of
	// the host's).
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "labsbx: fence: drop capabilities: %v\n", err)
		return childExitRefused
	}
	env := append(os.Environ(), EnvRelay+"="+strconv.Itoa(relayFD))
	err := syscall.Exec(path, argv, env)
	fmt.Fprintf(os.Stderr, "labsbx: run %s: %v\n", argv[0], err)
	return 127
}

// inside is what the child sees of its namespace, for the guard.
func inside(hostNS string, listening, approved []int) guard.FenceInside {
	in := guard.FenceInside{HostNetNS: hostNS, Listening: listening, Approved: approved}
	in.NetNS, _ = hostNetNS()
	ifs, err := net.Interfaces()
	if err != nil {
		in.Interfaces = []guard.FenceInterface{{Name: "(unreadable: " + err.Error() + ")"}}
		return in
	}
	for _, i := range ifs {
		fi := guard.FenceInterface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Loopback: i.Flags&net.FlagLoopback != 0}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			fi.Addrs = append(fi.Addrs, a.String())
		}
		in.Interfaces = append(in.Interfaces, fi)
	}
	return in
}

// loUp brings the namespace's loopback interface up (SIOCSIFFLAGS, no ip(8) needed).
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
