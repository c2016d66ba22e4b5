package guard

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestApproveWrite judges write targets offline: every hostile one is refused at the
// check that names it, and the ordinary ones pass.
func TestApproveWrite(t *testing.T) {
	home, root, other, scratch := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	scope := WriteScope{StateRoots: []string{root}, Homes: []string{home}}
	write := func(p, data string) string {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, p string) string {
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	prod := write(filepath.Join(home, ".arcodange", "cluster-keys.json"), `{"root_token":"x"}`)
	kube := write(filepath.Join(scratch, "config"), "apiVersion: v1\nkind: Config\nclusters: []\n")
	empty := write(filepath.Join(scratch, "empty"), "")
	write(filepath.Join(other, "s", "state.json"), `{"apiVersion": "labsbx.dev/v1alpha1"}`)
	fifo := filepath.Join(scratch, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(scratch, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := []struct {
		name, path, check string // check: the refusing step, "" = approved
	}{
		{"a kubeconfig", kube, ""},
		{"an empty file", empty, ""},
		{"a new path in a new dir", filepath.Join(scratch, "new", "config"), ""},
		{"a symlink to a kubeconfig", link(kube, filepath.Join(scratch, "to-kube")), ""},
		{"a dangling symlink to a new path", link(filepath.Join(scratch, "later"), filepath.Join(scratch, "dangling")), ""},
		{"relative", "relative/config", "write-absolute"},
		{"with ..", scratch + "/../x/config", "write-absolute"},
		{"cluster-keys.json", filepath.Join(scratch, "Cluster-Keys.json"), "write-name"},
		{"a link to cluster-keys.json", link(prod, filepath.Join(scratch, "to-prod")), "write-resolve"},
		{"a link loop", link(filepath.Join(scratch, "loop"), filepath.Join(scratch, "loop")), "write-resolve"},
		{"a link target with ..", link("../x", filepath.Join(scratch, "dotdot")), "write-resolve"},
		{"under ~/.arcodange", filepath.Join(home, ".arcodange", "config"), "write-not-arcodange"},
		{"~/.arcodange itself", filepath.Join(home, ".arcodange"), "write-not-arcodange"},
		{"a link into ~/.arcodange", link(filepath.Join(home, ".arcodange", "kc"), filepath.Join(scratch, "to-arc")), "write-not-arcodange"},
		{"inside the state root", filepath.Join(root, "config"), "write-not-state"},
		{"the state root", root, "write-not-state"},
		{"inside another root's sandbox", filepath.Join(other, "s", "secrets", "x"), "write-not-state"},
		{"a device", "/dev/zero", "write-type"},
		{"a FIFO", fifo, "write-type"},
		{"a socket", filepath.Join(scratch, "sock"), "write-type"},
		{"a directory", scratch, "write-type"},
		{"below a regular file", filepath.Join(kube, "x"), "write-resolve"},
		{"a YAML file that is no kubeconfig", write(filepath.Join(scratch, "values.yaml"), "replicas: 3\n"), "write-content"},
		{"a JSON key file", write(filepath.Join(scratch, "keys.json"), `{"unseal_keys_b64":["a"],"root_token":"b"}`), "write-content"},
		{"a kubeconfig of another kind", write(filepath.Join(scratch, "kind"), "apiVersion: v1\nkind: Pod\n"), "write-content"},
	}
	for _, tc := range cases {
		st := &writeState{path: filepath.Clean(tc.path), format: KubeconfigFormat, scope: scope}
		_, rep, err := approveWrite(st, tc.path)
		failed := ""
		for _, c := range rep.Checks {
			if !c.OK {
				failed = c.Name
			}
		}
		if failed != tc.check || (tc.check == "") != (err == nil) || err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("%s (%s): refused at %q (%v), want %q", tc.name, tc.path, failed, err, tc.check)
		}
	}
}

// TestWriteApprovalRechecks: a target swapped for a symlink or a FIFO after approval
// is refused at the write, and nothing is written; a refused Lock leaves no lock file.
func TestWriteApprovalRechecks(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	scope := WriteScope{Homes: []string{home}}
	p := filepath.Join(dir, "config")
	a, err := ApproveWrite(p, KubeconfigFormat, scope)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".arcodange"), 0o700); err != nil {
		t.Fatal(err)
	}
	prod := filepath.Join(home, ".arcodange", "cluster-keys.json")
	if err := os.WriteFile(prod, []byte("prod"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(prod, p); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteAtomic([]byte("apiVersion: v1\nkind: Config\n"), 0o600); !errors.Is(err, ErrRefused) {
		t.Errorf("write through a symlink swapped in = %v", err)
	}
	if _, err := a.Lock(0); !errors.Is(err, ErrRefused) {
		t.Errorf("lock through a symlink swapped in = %v", err)
	}
	if b, _ := os.ReadFile(prod); string(b) != "prod" {
		t.Error("the key file changed")
	}
	if _, err := os.Lstat(p + ".lock"); err == nil {
		t.Error("a refused lock left a lock file")
	}
	if es, _ := os.ReadDir(filepath.Join(home, ".arcodange")); len(es) != 1 {
		t.Errorf("files appeared beside the key file: %v", es)
	}
	_ = os.Remove(p)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read(); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("read of a FIFO swapped in = %v", err)
	}
}

// TestDirApproval: files of an approved directory stay in it, and its format is
// required of an existing directory.
func TestDirApproval(t *testing.T) {
	home, dir, outside := t.TempDir(), t.TempDir(), t.TempDir()
	scope := WriteScope{Homes: []string{home}}
	if err := os.WriteFile(filepath.Join(dir, "notes"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	onlyEmpty := DirFormat{Name: "empty directory", Recognise: func(names []string) error {
		if len(names) > 0 {
			return errors.New("not empty")
		}
		return nil
	}}
	if _, err := ApproveDir(dir, onlyEmpty, scope); !errors.Is(err, ErrRefused) {
		t.Errorf("a non-empty dir for an empty-only format = %v", err)
	}
	d, err := ApproveDir(dir, DirFormat{}, scope)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.File("out/report.json", Format{}); !errors.Is(err, ErrRefused) {
		t.Errorf("a file through a symlink out of the dir = %v", err)
	}
	if _, err := d.File("../x", Format{}); !errors.Is(err, ErrRefused) {
		t.Errorf("a file outside the dir = %v", err)
	}
	f, err := d.File("report.json", Format{Recognise: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteAtomic([]byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep, err := d.File("notes", Format{KeepExisting: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := keep.WriteAtomic([]byte("theirs"), 0o644); !errors.Is(err, ErrRefused) {
		t.Errorf("replacing a kept file = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes")); string(b) != "mine" {
		t.Error("a kept file was replaced")
	}
}
