package sandbox

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
)

// Configuration is what every operation on a sandbox shares: where state lives, how to
// report, and what the environment says. Clients for Docker, Vault and the cluster are
// built from guard approvals inside each operation, never from here.
type Configuration struct {
	Store    *state.Store
	Progress bringup.Progress
	Log      *slog.Logger
	// Getenv reads the user's environment. It never chooses a target: only image
	// overrides and DOCKER_HOST (a local socket) are read through it.
	Getenv func(string) string
	Now    func() time.Time
	// Clusters makes the full profile's cluster provider (k3d); nil in a build or test
	// without one, where the full profile is not available.
	Clusters cluster.Providers
	// Docker opens the Docker runtime on the engine the guard approved (nil:
	// docker.New). A unit test gives one over a fake engine (docker.NewWithEngine).
	Docker func(a guard.DockerApproval, name, uuid string) (*docker.Runtime, error)
	// Reaper is labsbx's own binary, which leads the process group of each local
	// command (ExecLocal) so that it dies with labsbx ("": none, as in tests).
	Reaper string

	// warnCLIUnfenced says once that the clients of `vault --` and `psql` run unfenced
	// (not on Linux).
	warnCLIUnfenced sync.Once
}

// docker opens the Docker runtime of sandbox name (uuid: its identity, "" without
// state) on the approved engine.
func (c *Configuration) docker(a guard.DockerApproval, name, uuid string) (*docker.Runtime, error) {
	if c.Docker != nil {
		return c.Docker(a, name, uuid)
	}
	return docker.New(a, name, uuid)
}

// Clock is the configuration's time (time.Now unless a test set Now).
func (c *Configuration) Clock() time.Time { return c.now() }

func (c *Configuration) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// WriteScope is what the guard judges a write outside the state dir against: the state
// root of this configuration and every other one labsbx would use (from LABSBX_HOME,
// XDG_STATE_HOME or the home directory), which no file labsbx writes for a user may
// enter. The state dirs of other roots are recognised by their state files.
func (c *Configuration) WriteScope() guard.WriteScope {
	roots := []string{}
	if c.Store != nil {
		roots = append(roots, c.Store.Root)
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	for _, env := range []string{state.EnvHome, state.EnvXDG, ""} {
		only := func(k string) string {
			if k == env {
				return getenv(k)
			}
			return ""
		}
		if r, err := state.StateRoot(only); err == nil {
			roots = append(roots, r)
		}
	}
	return guard.WriteScope{StateRoots: roots}
}

// Logger is the configuration's logger (one that discards, when none is set).
func (c *Configuration) Logger() *slog.Logger { return c.log() }

func (c *Configuration) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (c *Configuration) progress() bringup.Progress {
	if c.Progress != nil {
		return c.Progress
	}
	return bringup.NopProgress{}
}

// bringup is the configuration as bring-up takes it.
func (c *Configuration) bringup() *bringup.Config {
	return &bringup.Config{Store: c.Store, Progress: c.Progress, Log: c.Log, Getenv: c.Getenv, Now: c.Now, Clusters: c.Clusters, WriteScope: c.WriteScope()}
}
