// Package sandboxtest prepares vault-profile sandboxes on the local test images for the
// integration tests of every package.
package sandboxtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vm"
	"github.com/arcodange/labsbx/vmimages"
)

// New returns a configuration with a state root of its own and a vault-profile config
// on the local test images (labsbx.local/vault, labsbx.local/postgres); VMs, when the
// test asks for them, come from the machine's image cache. The sandbox name is
// removed with down when the test ends, whatever the test did. Without Docker or the
// images the test stops through testenv.Require.
func New(t testing.TB, name string, apps ...string) (*sandbox.Configuration, *config.Config) {
	t.Helper()
	testenv.RequireImage(t, testenv.VaultImage)
	testenv.RequireImage(t, testenv.PostgresImage)
	// The registry of state roots is the test's own, not the user's.
	env := map[string]string{config.EnvVaultImage: testenv.VaultImage, config.EnvPostgresImage: testenv.PostgresImage,
		state.EnvConfigHome: filepath.Join(t.TempDir(), "config")}
	// Where the VM images are cached and which accelerator VMs use: the machine's own.
	for _, k := range []string{vmimages.EnvCacheDir, "XDG_CACHE_HOME", vm.EnvAccel} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spec.Profile = config.ProfileVault
	if len(apps) > 0 {
		cfg.Spec.Apps = apps
	}
	store, err := state.NewStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	conf := &sandbox.Configuration{Store: store, Getenv: getenv}
	t.Cleanup(func() {
		if _, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: name}).Run(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	return conf, cfg
}

// Up creates the sandbox and fails the test if it cannot.
func Up(t testing.TB, name string, apps ...string) *sandbox.Configuration {
	t.Helper()
	conf, cfg := New(t, name, apps...)
	if _, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(context.Background()); err != nil {
		t.Fatalf("up %s: %v", name, err)
	}
	return conf
}
