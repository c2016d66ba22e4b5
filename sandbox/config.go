package sandbox

import (
	"io"
	"log/slog"
	"time"
)

// Progress reports bring-up steps to a person (the CLI prints them on stderr).
type Progress interface {
	Step(msg string, fn func() error) error
	Infof(format string, args ...any)
}

// Configuration is what every operation on a sandbox shares: where state lives, how to
// report, and what the environment says. Clients for Docker, Vault and the cluster are
// built from guard approvals inside each operation, never from here.
type Configuration struct {
	Store    *Store
	Progress Progress
	Log      *slog.Logger
	// Getenv reads the user's environment. It never chooses a target: only image
	// overrides and DOCKER_HOST (a local socket) are read through it.
	Getenv func(string) string
	Now    func() time.Time
	// Clusters makes the full profile's cluster provider (k3d); nil in a build or test
	// without one, where the full profile is not available.
	Clusters ClusterProviders
}

// Clock is the configuration's time (time.Now unless a test set Now).
func (c *Configuration) Clock() time.Time { return c.now() }

func (c *Configuration) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Configuration) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (c *Configuration) progress() Progress {
	if c.Progress != nil {
		return c.Progress
	}
	return nopProgress{}
}

type nopProgress struct{}

func (nopProgress) Step(_ string, fn func() error) error { return fn() }
func (nopProgress) Infof(string, ...any)                 {}
