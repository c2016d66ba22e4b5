package vmimages

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDefaultRecipe(t *testing.T) {
	r, err := Load("debian-12-arm64")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"openssh-server", "linux-image-arm64", "python3", "systemd-sysv"} {
		if !strings.Contains(strings.Join(r.Packages, " "), p) {
			t.Errorf("recipe lacks %s", p)
		}
	}
	if r.DiskSize != 4<<30 || r.FirstBoot != FirstBootFwCfg || r.User != "labsbx" || r.Cloud == nil {
		t.Errorf("recipe: %+v", r)
	}
	for _, f := range []string{"hooks/essential.sh", "hooks/customize.sh", "overlay/usr/local/sbin/labsbx-identity", "overlay/etc/systemd/system/labsbx-identity.service"} {
		if _, ok := r.Files()[f]; !ok {
			t.Errorf("recipe file %s missing", f)
		}
	}
	if got := Names(); len(got) == 0 || got[0] != "debian-12-arm64" {
		t.Errorf("Names: %v", got)
	}
	if _, err := Load("ubuntu-24.04"); !errors.Is(err, ErrUnknownRecipe) {
		t.Errorf("unknown recipe: %v", err)
	}
	if _, err := Load("../etc"); !errors.Is(err, ErrUnknownRecipe) {
		t.Errorf("path recipe: %v", err)
	}
}

// recipeFS is a minimal valid recipe directory, with one extra file.
func recipeFS(extra string) fstest.MapFS {
	return fstest.MapFS{
		"recipe.yaml": {Data: []byte(`name: demo
arch: arm64
suite: bookworm
variant: minbase
packages: [openssh-server]
kernel: boot/vmlinuz-*
initrd: boot/initrd.img-*
append: root=/dev/vda
diskSize: 2GiB
firstBoot: fw-cfg
user: labsbx
initramfs: {modules: [virtio_blk, ext4], compress: none}
`)},
		"overlay/etc/motd": {Data: []byte(extra)},
	}
}

func TestRecipeHash(t *testing.T) {
	a, err := Parse("demo", recipeFS("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse("demo", recipeFS("hello"))
	c, _ := Parse("demo", recipeFS("hello!"))
	if a.Hash() != b.Hash() || len(a.Hash()) != 16 {
		t.Errorf("hash not stable: %s %s", a.Hash(), b.Hash())
	}
	if a.Hash() == c.Hash() {
		t.Error("a changed overlay file keeps the hash")
	}
	if a.SourceHash(SourceLocal) != a.Hash() || a.SourceHash(SourceCloud) == a.Hash() {
		t.Error("local and cloud images must not share a cache dir")
	}
	if a.DirName(SourceLocal) != "demo-"+a.Hash() {
		t.Errorf("dir name %s", a.DirName(SourceLocal))
	}
	// A file moved to another path changes the hash, even with the same bytes.
	moved := recipeFS("hello")
	moved["overlay/etc/issue"] = moved["overlay/etc/motd"]
	delete(moved, "overlay/etc/motd")
	if m, _ := Parse("demo", moved); m.Hash() == a.Hash() {
		t.Error("a renamed file keeps the hash")
	}
}

func TestRecipeValidation(t *testing.T) {
	for name, mut := range map[string]string{
		"unknown field": "colour: blue\n",
		"bad arch":      "arch: amd64\n",
		"tiny disk":     "diskSize: 10MiB\n",
		"bad size":      "diskSize: 4GB\n",
		"bad package":   "packages: ['openssh-server; rm -rf /']\n",
		"bad user":      "user: Root\n",
		"bad compress":  "initramfs: {modules: [ext4], compress: zstd}\n",
		"no modules":    "initramfs: {compress: none}\n",
		"plain cloud":   "cloud: {url: http://example.org/x.qcow2, checksums: http://example.org/SUMS}\n",
	} {
		fs := recipeFS("")
		y := string(fs["recipe.yaml"].Data)
		key, _, _ := strings.Cut(mut, ":")
		var out []string
		for _, l := range strings.Split(y, "\n") {
			if !strings.HasPrefix(l, key+":") {
				out = append(out, l)
			}
		}
		fs["recipe.yaml"] = &fstest.MapFile{Data: []byte(strings.Join(out, "\n") + mut)}
		if _, err := Parse("demo", fs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Parse("other", recipeFS("")); err == nil {
		t.Error("a recipe whose name differs from its directory was accepted")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"4GiB": 4 << 30, "512MiB": 512 << 20, "1048576": 1 << 20, "1TiB": 1 << 40} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
		if back, _ := ParseSize(got.String()); back != got {
			t.Errorf("%s does not round-trip: %s", in, got)
		}
	}
	for _, bad := range []string{"4GB", "-1", "", "1.5GiB", "99999999999TiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSource(t *testing.T) {
	if DefaultSource("linux") != SourceLocal || DefaultSource("darwin") != SourceCloud {
		t.Error("platform sources")
	}
	env := func(v string) func(string) string {
		return func(k string) string { return map[string]string{EnvSource: v}[k] }
	}
	if s, err := SourceAuto.Resolve(env("cloud")); err != nil || s != SourceCloud {
		t.Errorf("env override: %s %v", s, err)
	}
	if s, _ := SourceLocal.Resolve(env("cloud")); s != SourceLocal {
		t.Error("an explicit source lost to the environment")
	}
	if _, err := SourceAuto.Resolve(env("docker")); err == nil {
		t.Error("a bad source was accepted")
	}
}

func TestMmdebstrapArgs(t *testing.T) {
	r, err := Load("debian-12-arm64")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(mmdebstrapArgs(r, "/tmp/b/recipe", "/tmp/b/rootfs", "http://mirror.example/debian"), "\n")
	for _, want := range []string{"--mode=root", "--arch=arm64", "--variant=minbase", "--dpkgopt=path-exclude=/usr/share/doc/*",
		"--essential-hook=sh '/tmp/b/recipe/hooks/essential.sh' \"$1\"",
		"--customize-hook=sh '/tmp/b/recipe/hooks/customize.sh' \"$1\" '/tmp/b/recipe' 'virtio_pci virtio_blk virtio_net ext4 qemu_fw_cfg virtio_rng autofs4' 'none' 'labsbx'",
		"bookworm\n/tmp/b/rootfs\nhttp://mirror.example/debian"} {
		if !strings.Contains(args, want) {
			t.Errorf("mmdebstrap args lack %q:\n%s", want, args)
		}
	}
}

// TestFetchCloud downloads from a local server: a good image is kept, a corrupt one refused.
func TestFetchCloud(t *testing.T) {
	disk := []byte("qcow2 image bytes")
	sum := sha512.Sum512(disk)
	serve := func(body []byte) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/SHA512SUMS":
				fmt.Fprintf(w, "%s  other.qcow2\n%s  debian-12-genericcloud-arm64.qcow2\n", strings.Repeat("0", 128), hex.EncodeToString(sum[:]))
			case "/debian-12-genericcloud-arm64.qcow2":
				_, _ = w.Write(body)
			default:
				http.NotFound(w, r)
			}
		}))
	}
	r, err := Load("debian-12-arm64")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body []byte
		ok   bool
	}{{disk, true}, {[]byte("tampered"), false}} {
		srv := serve(tc.body)
		rc := *r
		rc.Cloud = &Cloud{URL: srv.URL + "/debian-12-genericcloud-arm64.qcow2", Checksums: srv.URL + "/SHA512SUMS", DiskSize: 8 << 30}
		b := &Builder{HTTPClient: srv.Client()}
		dir := t.TempDir()
		img := &Image{}
		err := b.fetchCloud(context.Background(), &rc, dir, img)
		srv.Close()
		if tc.ok {
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, img.Disk))
			if string(got) != string(disk) || img.Firmware != FirmwareUEFI || img.FirstBoot != FirstBootCloudInit {
				t.Errorf("image %+v", img)
			}
		} else if err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("a tampered image was accepted: %v", err)
		}
	}
}

func TestFindMissing(t *testing.T) {
	if _, err := Find(t.TempDir(), "debian-12-arm64", SourceLocal); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Find in an empty cache: %v", err)
	}
}
