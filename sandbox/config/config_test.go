package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/internal/goldenfile"
)

func TestConfigGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no config fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(filepath.Base(f), data, nil)
			var got []byte
			switch {
			case strings.HasPrefix(name, "good-"):
				if err != nil {
					t.Fatalf("want a valid config, got: %v", err)
				}
				if got, err = Marshal(cfg); err != nil {
					t.Fatal(err)
				}
			case strings.HasPrefix(name, "bad-"):
				if err == nil {
					t.Fatalf("want an error, got a valid config")
				}
				got = []byte(err.Error() + "\n")
			default:
				t.Fatalf("fixture name must start with good- or bad-")
			}
			goldenfile.Assert(t, filepath.Join("config", name+".golden"), got)
		})
	}
}

func TestEmbeddedDefault(t *testing.T) {
	cfg, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Spec.Profile != ProfileVault || len(cfg.Spec.Apps) != 1 || cfg.Spec.Apps[0] != "webapp" {
		t.Errorf("default spec: profile %q apps %v, want vault [webapp]", cfg.Spec.Profile, cfg.Spec.Apps)
	}
	// A round trip through the rendered form gives the same document.
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("rendered", out, nil)
	if err != nil {
		t.Fatalf("rendered default does not parse: %v\n%s", err, out)
	}
	out2, _ := Marshal(again)
	if string(out) != string(out2) {
		t.Errorf("round trip changed the config:\n%s\n---\n%s", out, out2)
	}
}

func TestImageOverrides(t *testing.T) {
	env := map[string]string{EnvVaultImage: "mirror.local/vault:1.21.0", EnvPostgresImage: "mirror.local/postgres:15"}
	cfg, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Spec.Vault.Image != env[EnvVaultImage] || cfg.Spec.Postgres.Image != env[EnvPostgresImage] {
		t.Errorf("overrides not applied: vault %q postgres %q", cfg.Spec.Vault.Image, cfg.Spec.Postgres.Image)
	}
	env[EnvVaultImage] = "Not An Image"
	_, err = Load("", func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "spec.vault.image") {
		t.Errorf("a bad override must name spec.vault.image, got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("want an error naming the file, got %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"default", "a", "ci-42", "x1"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "Default", "a_b", "a.b", "../x", strings.Repeat("a", 33)} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
