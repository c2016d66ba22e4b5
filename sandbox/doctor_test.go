package sandbox

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// A Docker engine the guard refuses makes the doctor (and so up's preflight) return
// the refusal itself, which the CLI maps to exit 3, not "not ready" (exit 1).
func TestDoctorPassesTheEngineRefusalThrough(t *testing.T) {
	store, err := state.NewStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"tcp://10.0.0.7:2375", "tcp://[::ffff:127.0.0.1]:2375", "ssh://pi@rpi1", "tcp://docker.example:2376"} {
		env := map[string]string{"DOCKER_HOST": host}
		conf := &Configuration{Store: store, Getenv: func(k string) string { return env[k] }}
		cfg, err := config.Load("", conf.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := NewDoctor(conf, UpOptions{Name: "doc", Config: cfg}).preflight(context.Background())
		if !errors.Is(err, guard.ErrRefused) || errors.Is(err, ErrNotReady) {
			t.Errorf("DOCKER_HOST=%s: preflight error %v; want the guard's refusal", host, err)
		}
		if rep == nil || rep.OK || len(rep.Checks) == 0 || rep.Checks[0].Result != CheckFail {
			t.Errorf("DOCKER_HOST=%s: report %+v; want the engine check failed", host, rep)
		}
	}
}

// The doctor judges the images an existing sandbox runs on (its state's), not the
// config's defaults, unless the environment names images itself.
func TestDoctorJudgesTheSandboxsImages(t *testing.T) {
	store, err := state.NewStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	def := config.DefaultSpec()
	used := def
	used.Vault.Image, used.Postgres.Image = "labsbx.local/vault:1.21.0", "labsbx.local/postgres:15"
	st := store.New("doc", used, time.Now())
	for _, tc := range []struct {
		name  string
		st    *state.State
		env   map[string]string
		vault string
		pg    string
	}{
		{"no sandbox yet", nil, nil, def.Vault.Image, def.Postgres.Image},
		{"the sandbox's images", st, nil, used.Vault.Image, used.Postgres.Image},
		{"the environment wins", st, map[string]string{config.EnvVaultImage: "example/vault:x"}, def.Vault.Image, used.Postgres.Image},
	} {
		got := imagesInUse(def, tc.st, func(k string) string { return tc.env[k] })
		if got.Vault.Image != tc.vault || got.Postgres.Image != tc.pg {
			t.Errorf("%s: images %s, %s; want %s, %s", tc.name, got.Vault.Image, got.Postgres.Image, tc.vault, tc.pg)
		}
	}
}
