package fence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// The test binary plays labsbx (its own `__fence` child and relay) and the user's
// command (FENCE_TEST_* modes).
func TestMain(m *testing.M) {
	switch {
	case len(os.Args) > 1 && os.Args[1] == ChildCommand:
		os.Exit(Child(os.Args[2:]))
	case os.Getenv(EnvRelay) != "" && os.Getenv("FENCE_TEST_RELAY") != "":
		os.Exit(Relay(os.Getenv(EnvRelay), []string{"relayed"}))
	case len(os.Args) > 1 && os.Args[1] == "relayed":
		ns, _ := hostNetNS()
		fmt.Println("relayed in", ns, os.Getenv(EnvRelay) == "")
		os.Exit(3)
	case os.Getenv("FENCE_TEST_DIAL") != "":
		os.Exit(dialMode())
	case os.Getenv("FENCE_TEST_SIGNAL") != "":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Printf("read %s", line)
		<-sig
		fmt.Println("got SIGTERM")
		os.Exit(5)
	case os.Getenv("FENCE_TEST_EXIT") != "":
		fmt.Println("HOME=" + os.Getenv("HOME"))
		os.Exit(7)
	}
	os.Exit(m.Run())
}

// dialMode dials each address of FENCE_TEST_DIAL and prints what answered.
func dialMode() int {
	for _, addr := range strings.Split(os.Getenv("FENCE_TEST_DIAL"), " ") {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			fmt.Printf("%s: no connection\n", addr)
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		_ = c.Close()
		if err != nil {
			fmt.Printf("%s: closed without a word\n", addr)
			continue
		}
		fmt.Printf("%s: %s", addr, line)
	}
	return 0
}

// nonLoopback is an address of this host that is not loopback, if it has one.
func nonLoopback() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ip, _, err := net.ParseCIDR(a.String()); err == nil && ip.To4() != nil && !ip.IsLoopback() {
			return ip.String()
		}
	}
	return ""
}

func requireFence(t *testing.T) {
	t.Helper()
	if ok, why := Available(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no fence here: %s", why)
		}
		t.Skipf("no fence here: %s", why)
	}
}

func runFenced(t *testing.T, f *Fence, env ...string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append([]string{"HOME=/caller", "PATH=" + os.Getenv("PATH")}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	r, err := f.Wrap(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Finish(cmd.Run())
	return out.String(), err
}

// A fenced command reaches the approved port, and neither another loopback port nor
// an address of the host's LAN.
func TestFenceLetsOnlyApprovedPortsThrough(t *testing.T) {
	requireFence(t)
	sandbox := listen(t, "127.0.0.1:0", "sandbox")
	other := listen(t, "127.0.0.1:0", "other")
	targets := []string{fmt.Sprintf("127.0.0.1:%d", sandbox), fmt.Sprintf("127.0.0.1:%d", other)}
	if ip := nonLoopback(); ip != "" {
		lan := listen(t, "0.0.0.0:0", "lan")
		targets = append(targets, fmt.Sprintf("%s:%d", ip, lan))
	}
	f := approved(t, guard.FencePort{Name: "vaultish", Port: sandbox})
	out, err := runFenced(t, f, "FENCE_TEST_DIAL="+strings.Join(targets, " "))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{targets[0] + ": sandbox"}
	for _, a := range targets[1:] {
		want = append(want, a+": no connection")
	}
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("want %q in:\n%s", w, out)
		}
	}
	// Unfenced, the same command reaches them all: the test would see a missing fence.
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = []string{"FENCE_TEST_DIAL=" + strings.Join(targets, " ")}
	plain, _ := cmd.CombinedOutput()
	if strings.Count(string(plain), "no connection") != 0 {
		t.Errorf("unfenced, the listeners should answer:\n%s", plain)
	}
}

// The command's exit status passes through, and its HOME is the sandbox's.
func TestFenceKeepsExitStatusAndSetsHome(t *testing.T) {
	requireFence(t)
	f := approved(t, guard.FencePort{Name: "p", Port: listen(t, "127.0.0.1:0", "x")})
	out, err := runFenced(t, f, "FENCE_TEST_EXIT=1")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if want := "HOME=" + f.Approval.Home() + "\n"; !strings.Contains(out, want) {
		t.Errorf("want %q in %q", want, out)
	}
}

// labsbx run inside the fence runs outside it, with its streams and exit status.
func TestFenceRelaysLabsbx(t *testing.T) {
	requireFence(t)
	f := approved(t, guard.FencePort{Name: "p", Port: listen(t, "127.0.0.1:0", "x")})
	out, err := runFenced(t, f, "FENCE_TEST_RELAY=1")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	host, _ := hostNetNS()
	if want := "relayed in " + host + " true\n"; out != want {
		t.Errorf("relayed run said %q, want %q", out, want)
	}
}

// A port the fence cannot listen on inside (given twice would be refused earlier;
// here one below 1 cannot be approved at all) never reaches the child: the approval
// is the only way in.
func TestFenceNeedsAnApproval(t *testing.T) {
	cmd := exec.Command("true")
	if _, err := (&Fence{}).Wrap(context.Background(), cmd); !errors.Is(err, guard.ErrRefused) {
		t.Fatalf("a zero approval: %v", err)
	}
}

// withHome replaces HOME and sets DOCKER_CONFIG in it.
func TestWithHome(t *testing.T) {
	got := withHome([]string{"HOME=/caller", "PATH=/bin", "DOCKER_CONFIG=/caller/.docker"}, "/state/home")
	want := []string{"PATH=/bin", "HOME=/state/home", "DOCKER_CONFIG=/state/home/.docker"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q", got)
	}
}

// The fenced command is labsbx's direct child: its stdin passes through, a signal sent
// to the child's PID reaches the command itself, and its exit status is its own.
func TestFenceStdinAndSignals(t *testing.T) {
	requireFence(t)
	f := approved(t, guard.FencePort{Name: "p", Port: listen(t, "127.0.0.1:0", "x")})
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = []string{"FENCE_TEST_SIGNAL=1"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Wrap(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "hello through the fence")
	out := bufio.NewReader(stdout)
	if line, _ := out.ReadString('\n'); line != "read hello through the fence\n" {
		t.Fatalf("stdin did not pass through: %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line, _ := out.ReadString('\n')
	err = r.Finish(cmd.Wait())
	var exit *exec.ExitError
	if line != "got SIGTERM\n" || !errors.As(err, &exit) || exit.ExitCode() != 5 {
		t.Fatalf("signal: %q, exit %v", line, err)
	}
}
