package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEditSpec(t *testing.T) {
	hardLimit = func(int) (uint64, error) { return 1048576, nil }
	in := `{"ociVersion":"1.0.2","process":{"args":["/bin/k3s"],"oomScoreAdj":-999,
		"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],"effective":["CAP_SYS_RESOURCE"],"ambient":[]},
		"rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":18446744073709551615},
		           {"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":0},
		           {"type":"RLIMIT_NPROC","hard":4096,"soft":4096}]},
		"linux":{"resources":{}}}`
	out, err := editSpec([]byte(in), false)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			OOM  int                 `json:"oomScoreAdj"`
			Caps map[string][]string `json:"capabilities"`
			RL   []struct {
				Type       string
				Hard, Soft uint64
			} `json:"rlimits"`
		} `json:"process"`
		Linux map[string]any `json:"linux"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.OCIVersion != "1.0.2" || got.Linux == nil {
		t.Errorf("fields it does not change were lost: %s", out)
	}
	if got.Process.OOM != 0 {
		t.Errorf("oomScoreAdj %d, want 0", got.Process.OOM)
	}
	if !slices.Equal(got.Process.Caps["bounding"], []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}) || len(got.Process.Caps["effective"]) != 0 {
		t.Errorf("capabilities %v", got.Process.Caps)
	}
	want := map[string][2]uint64{"RLIMIT_NOFILE": {1048576, 1048576}, "RLIMIT_CORE": {18446744073709551615, 0}, "RLIMIT_NPROC": {4096, 4096}}
	for _, r := range got.Process.RL {
		if w := want[r.Type]; r.Hard != w[0] || r.Soft != w[1] {
			t.Errorf("%s hard %d soft %d, want %v", r.Type, r.Hard, r.Soft, w)
		}
	}
	// A spec that needs nothing is left byte for byte.
	same := `{"process":{"oomScoreAdj":5,"capabilities":{"bounding":["CAP_CHOWN"]}}}`
	if out, _ := editSpec([]byte(same), false); string(out) != same {
		t.Errorf("an unchanged spec was rewritten: %s", out)
	}
}

func TestEditFindsTheSpec(t *testing.T) {
	hardLimit = func(int) (uint64, error) { return 1024, nil }
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	proc := filepath.Join(dir, "process.json")
	write := func() {
		_ = os.WriteFile(cfg, []byte(`{"process":{"oomScoreAdj":-1}}`), 0o600)
		_ = os.WriteFile(proc, []byte(`{"oomScoreAdj":-1}`), 0o600)
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	for _, tc := range []struct {
		args        []string
		cfg, proc   bool // edited?
		description string
	}{
		{[]string{"--root", "/run/r", "--log", "/l.json", "--log-format", "json", "create", "--bundle", dir, "--pid-file", "p", "id"}, true, false, "create --bundle"},
		{[]string{"--root=/run/r", "--systemd-cgroup", "run", "-b", dir, "id"}, true, false, "run -b"},
		{[]string{"create", "--bundle=" + dir, "id"}, true, false, "create --bundle="},
		{[]string{"--root", "/run/r", "exec", "--process", proc, "--detach", "id"}, false, true, "exec --process"},
		{[]string{"--root", "/run/r", "start", "id"}, false, false, "start"},
		{[]string{"--root", "create", "delete", "id"}, false, false, "a global value that looks like a command"},
	} {
		write()
		if err := edit(tc.args); err != nil {
			t.Fatalf("%s: %v", tc.description, err)
		}
		if got := read(cfg) != `{"process":{"oomScoreAdj":-1}}`; got != tc.cfg {
			t.Errorf("%s: config.json edited %v, want %v", tc.description, got, tc.cfg)
		}
		if got := read(proc) != `{"oomScoreAdj":-1}`; got != tc.proc {
			t.Errorf("%s: process file edited %v, want %v", tc.description, got, tc.proc)
		}
	}
}
