package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The OpenTofu CI path's client side. e2e/toolchain/tofu.sh pins the same versions;
// TestToolchainVersions checks that they agree.
const (
	TofuVersion          = "1.12.6"
	VaultProviderVersion = "5.11.0"
	HintTofu             = "go tool task tofu"
)

// TofuBinary returns the path of the cached tofu CLI, or stops the test through
// Require when it has not been built.
func TofuBinary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(BinDir(), "tofu-"+TofuVersion)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		Require(t, fmt.Sprintf("tofu %s binary (%s)", TofuVersion, p), HintTofu)
	}
	return p
}

// TofuMirrorDir is the provider filesystem mirror tofu.sh lays out: what a CLI
// configuration's filesystem_mirror block names.
func TofuMirrorDir() string { return filepath.Join(CacheDir(), "toolchain", "tofu-mirror") }

// TofuMirror returns TofuMirrorDir, or stops the test through Require when the Vault
// provider for this platform is not in it.
func TofuMirror(t testing.TB) string {
	t.Helper()
	dir := TofuMirrorDir()
	exe := filepath.Join(dir, "registry.opentofu.org", "hashicorp", "vault", VaultProviderVersion,
		runtime.GOOS+"_"+runtime.GOARCH, "terraform-provider-vault_v"+VaultProviderVersion)
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		Require(t, fmt.Sprintf("Vault provider %s in the tofu mirror (%s)", VaultProviderVersion, exe), HintTofu)
	}
	return dir
}
