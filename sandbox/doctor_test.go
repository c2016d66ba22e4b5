package sandbox

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

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
