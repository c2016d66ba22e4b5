package bringup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// A chart enters labsbx's cache through the write guard: once, under its name and
// version, and never through a path that the guard refuses (here, a cache dir that is
// a symlink into ~/.arcodange, where production's keys live).
func TestChartCacheGoesThroughTheWriteGuard(t *testing.T) {
	home := t.TempDir()
	cache := filepath.Join(t.TempDir(), "cache")
	scope := guard.WriteScope{Homes: []string{home}}
	p := &Context{cfg: &Config{WriteScope: scope, Getenv: func(k string) string {
		if k == "LABSBX_CACHE_DIR" {
			return cache
		}
		return ""
	}}}
	ref := charts.Ref{Name: "vault", Version: "0.31.0"}
	src := filepath.Join(t.TempDir(), "vault-0.31.0.tgz")
	if err := os.WriteFile(src, []byte("chart v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := p.chartCacheFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := keepChart(src, file); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(cache, "charts", "vault-0.31.0.tgz")
	if b, err := os.ReadFile(kept); err != nil || string(b) != "chart v1" {
		t.Fatalf("kept chart: %q, %v", b, err)
	}
	// Kept as it is: a second bundle's archive of the same version does not replace it.
	if err := os.WriteFile(src, []byte("chart v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := keepChart(src, file); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(kept); string(b) != "chart v1" {
		t.Errorf("the cached chart was replaced: %q", b)
	}

	// A cache dir that leads into ~/.arcodange is refused before anything is written.
	keys := filepath.Join(home, ".arcodange")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(keys, filepath.Join(cache, "evil")); err != nil {
		t.Fatal(err)
	}
	cache = filepath.Join(cache, "evil")
	if _, err := p.chartCacheFile(ref); err == nil {
		t.Error("a chart cache inside ~/.arcodange was approved")
	}
	if entries, _ := os.ReadDir(keys); len(entries) != 0 {
		t.Errorf("written into ~/.arcodange: %v", entries)
	}
}
