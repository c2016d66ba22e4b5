package testenv

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"
)

// TestToolchainVersions checks that the versions pinned here match the ones
// e2e/toolchain/toolchain.sh and tofu.sh build, and those of the builder modules.
func TestToolchainVersions(t *testing.T) {
	script, err := os.ReadFile("../toolchain/toolchain.sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"VAULT_VERSION":    VaultVersion,
		"VAULT_TO_VERSION": VaultToVersion,
		"KUBE_VERSION":     KubeVersion,
		"ETCD_VERSION":     EtcdVersion,
	} {
		m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(script)
		if m == nil || string(m[1]) != want {
			t.Errorf("toolchain.sh %s = %q, testenv has %q", name, m, want)
		}
	}
	tofu, err := os.ReadFile("../toolchain/tofu.sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"TOFU_VERSION":           TofuVersion,
		"VAULT_PROVIDER_VERSION": VaultProviderVersion,
	} {
		m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(tofu)
		if m == nil || string(m[1]) != want {
			t.Errorf("tofu.sh %s = %q, testenv has %q", name, m, want)
		}
	}
	for file, line := range map[string]string{
		"../toolchain/vault/go.mod":                        "github.com/hashicorp/vault v" + VaultVersion,
		"../toolchain/vault-" + VaultToVersion + "/go.mod": "github.com/hashicorp/vault v" + VaultToVersion,
		"../toolchain/kube/go.mod":                         "k8s.io/kubernetes v" + KubeVersion,
		"../toolchain/etcd/go.mod":                         "go.etcd.io/etcd/server/v3 v" + EtcdVersion,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^require ` + regexp.QuoteMeta(line) + `$`).Match(b) {
			t.Errorf("%s does not require %s", file, line)
		}
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv("LABSBX_CACHE_DIR", "/x/cache")
	t.Setenv("XDG_CACHE_HOME", "/y")
	if got := BinDir(); got != "/x/cache/toolchain/bin" {
		t.Errorf("BinDir with LABSBX_CACHE_DIR = %q", got)
	}
	if got := TofuMirrorDir(); got != "/x/cache/toolchain/tofu-mirror" { // tofu.sh's MIRROR
		t.Errorf("TofuMirrorDir with LABSBX_CACHE_DIR = %q", got)
	}
	t.Setenv("LABSBX_CACHE_DIR", "")
	if got := CacheDir(); got != "/y/labsbx" {
		t.Errorf("CacheDir with XDG_CACHE_HOME = %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := CacheDir(); got != "/home/u/.cache/labsbx" {
		t.Errorf("CacheDir with HOME = %q", got)
	}
}

func TestRequireSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Require(t, "thing", "make thing")
	})
	if !skipped {
		t.Fatal("Require did not skip with CI unset")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3}, 3},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 9, 2}, 3},
	} {
		in := slices.Clone(c.in)
		if got := Median(c.in); got != c.want || !slices.Equal(in, c.in) {
			t.Errorf("Median(%v) = %v, want %v, input left as it was", in, got, c.want)
		}
	}
}
