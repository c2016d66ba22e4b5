package state

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
)

func TestStateRoot(t *testing.T) {
	home, _ := os.UserHomeDir()
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvHome: "/tmp/lh", EnvXDG: "/tmp/xdg"}, "/tmp/lh"},
		{map[string]string{EnvXDG: "/tmp/xdg"}, "/tmp/xdg/labsbx"},
		{map[string]string{}, filepath.Join(home, ".local/state/labsbx")},
	}
	for _, c := range cases {
		got, err := StateRoot(func(k string) string { return c.env[k] })
		if err != nil || got != c.want {
			t.Errorf("StateRoot(%v) = %q, %v; want %q", c.env, got, err, c.want)
		}
	}
}

func TestStateSaveLoadModes(t *testing.T) {
	st, err := NewStore(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load("", nil)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s := st.New("demo", cfg.Spec, now)
	if err := st.Save(s, now); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{st.Root: 0o700, st.Dir("demo"): 0o700, filepath.Join(st.Dir("demo"), stateFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	got, err := st.Load("demo")
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != s.UUID || got.Dir() != st.Dir("demo") {
		t.Errorf("loaded state differs: %+v", got)
	}
	// No temp file is left behind by the atomic write.
	entries, _ := os.ReadDir(st.Dir("demo"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("leftover temp file %s", e.Name())
		}
	}
	if _, err := st.Load("other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load(other) = %v, want ErrNotFound", err)
	}
	if _, err := st.Load("../etc"); err == nil {
		t.Error("Load accepted a path-like name")
	}
	list, errs := st.List()
	if len(errs) != 0 || len(list) != 1 || list[0].Name != "demo" {
		t.Errorf("List = %v, %v", list, errs)
	}
	// A corrupt state is an error that names the file, and does not hide the others.
	if err := os.MkdirAll(st.Dir("broken"), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(st.Dir("broken"), stateFile), []byte("{"), 0o600)
	list, errs = st.List()
	if len(list) != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "corrupt") {
		t.Errorf("List with a corrupt entry = %v, %v", list, errs)
	}
}

// TestLockHeldByOtherProcess runs a child that holds the lock and checks that the
// error names its PID, and that the lock is free again once the child exits.
func TestLockHeldByOtherProcess(t *testing.T) {
	if os.Getenv("LABSBX_TEST_HOLD_LOCK") != "" {
		st := &Store{Root: os.Getenv("LABSBX_TEST_HOLD_LOCK")}
		if _, err := st.Lock("demo"); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHeldByOtherProcess$")
	cmd.Env = append(os.Environ(), "LABSBX_TEST_HOLD_LOCK="+root)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("child did not take the lock: %q", line)
	}
	st := &Store{Root: root}
	_, err := st.Lock("demo")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("Lock while held = %v; want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}
	_ = stdin.Close()
	_ = cmd.Wait()
	l, err := st.Lock("demo")
	if err != nil {
		t.Fatalf("lock after the holder exited: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
}
