package vmimages

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// EnvCacheDir overrides the cache root; the default is $XDG_CACHE_HOME/labsbx, else
// ~/.cache/labsbx. The toolchain script and e2e/testenv use the same root.
const EnvCacheDir = "LABSBX_CACHE_DIR"

// EnvSource forces the image source ("local" or "cloud") when set.
const EnvSource = "LABSBX_VM_IMAGE_SOURCE"

// EnvDebianMirror overrides the Debian mirror of local builds.
const EnvDebianMirror = "LABSBX_DEBIAN_MIRROR"

// CacheRoot is the labsbx cache root: $LABSBX_CACHE_DIR, else $XDG_CACHE_HOME/labsbx,
// else ~/.cache/labsbx. Images live in its vmimages/ directory, outside any repository.
func CacheRoot(getenv func(string) string) (string, error) {
	if d := getenv(EnvCacheDir); d != "" {
		return filepath.Abs(d)
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Abs(filepath.Join(d, "labsbx"))
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache dir: set %s: %w", EnvCacheDir, err)
	}
	return filepath.Join(home, ".cache", "labsbx"), nil
}

// Source is where an image comes from.
type Source string

const (
	SourceAuto  Source = ""      // local on Linux, cloud elsewhere
	SourceLocal Source = "local" // mmdebstrap from Debian's arm64 packages
	SourceCloud Source = "cloud" // the official Debian cloud image, checksum verified
)

// ParseSource accepts "", "auto", "local" and "cloud".
func ParseSource(s string) (Source, error) {
	switch s {
	case "", "auto":
		return SourceAuto, nil
	case string(SourceLocal), string(SourceCloud):
		return Source(s), nil
	}
	return "", fmt.Errorf("invalid image source %q: use auto, local or cloud", s)
}

// DefaultSource is the source a platform takes: a local build needs Linux (mmdebstrap,
// mkfs.ext4 -d), so macOS downloads the cloud image.
func DefaultSource(goos string) Source {
	if goos == "linux" {
		return SourceLocal
	}
	return SourceCloud
}

// Resolve turns SourceAuto into the platform's source, honouring LABSBX_VM_IMAGE_SOURCE.
func (s Source) Resolve(getenv func(string) string) (Source, error) {
	if s != SourceAuto {
		return s, nil
	}
	if getenv != nil {
		if v := getenv(EnvSource); v != "" {
			src, err := ParseSource(v)
			if err != nil {
				return "", fmt.Errorf("%s: %w", EnvSource, err)
			}
			if src != SourceAuto {
				return src, nil
			}
		}
	}
	return DefaultSource(runtime.GOOS), nil
}

// Firmware values of an Image.
const (
	FirmwareNone = ""     // direct kernel boot
	FirmwareUEFI = "uefi" // the disk has an EFI system partition
)

// Image is a built (or downloaded) image in the cache, as its image.json records it.
type Image struct {
	Recipe string `json:"recipe"`
	Hash   string `json:"hash"`
	Source Source `json:"source"`
	// Files in Dir.
	Disk   string `json:"disk"`
	Kernel string `json:"kernel,omitempty"`
	Initrd string `json:"initrd,omitempty"`
	// Append is the kernel command line of a direct kernel boot.
	Append    string `json:"append,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	FirstBoot string `json:"firstBoot"`
	User      string `json:"user"`
	// DiskSize is the virtual size every VM's overlay gets.
	DiskSize     Size      `json:"diskSize"`
	SHA512       string    `json:"sha512,omitempty"` // of the downloaded disk
	BuiltAt      time.Time `json:"builtAt"`
	BuildSeconds float64   `json:"buildSeconds"`

	Dir string `json:"-"`
}

// Path is the absolute path of one of the image's files.
func (i *Image) Path(file string) string { return filepath.Join(i.Dir, file) }

const manifestFile = "image.json"

// ErrNotBuilt is returned by Find when the image is not in the cache.
var ErrNotBuilt = errors.New("VM image not built")

// ImagesDir is the vmimages/ directory of a cache root.
func ImagesDir(cacheRoot string) string { return filepath.Join(cacheRoot, "vmimages") }

// DirName is the cache directory name of the recipe's image from src:
// <recipe>-<hash>, where the hash covers the recipe's files and the source.
func (r *Recipe) DirName(src Source) string { return r.Name + "-" + r.SourceHash(src) }

// SourceHash is the recipe hash for the local build, and a hash of it and the source
// for the others, so that the two kinds of image never share a cache directory.
func (r *Recipe) SourceHash(src Source) string {
	if src == SourceLocal {
		return r.hash
	}
	return hashFiles(map[string][]byte{"recipe-hash": []byte(r.hash), "source": []byte(src)})
}

// Find returns the cached image of recipe name from src, or ErrNotBuilt.
func Find(cacheRoot, name string, src Source) (*Image, error) {
	r, err := Load(name)
	if err != nil {
		return nil, err
	}
	return readManifest(filepath.Join(ImagesDir(cacheRoot), r.DirName(src)))
}

func readManifest(dir string) (*Image, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotBuilt, dir)
	}
	if err != nil {
		return nil, err
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return nil, fmt.Errorf("image manifest %s: %w", filepath.Join(dir, manifestFile), err)
	}
	img.Dir = dir
	for _, f := range []string{img.Disk, img.Kernel, img.Initrd} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(img.Path(f)); err != nil {
			return nil, fmt.Errorf("%w: %s is incomplete (%w); rebuild it", ErrNotBuilt, dir, err)
		}
	}
	return &img, nil
}

func writeManifest(dir string, img *Image) error {
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifestFile), append(b, '\n'), 0o644)
}

// Open reads the image in a cache directory (as a VM's state records it).
func Open(dir string) (*Image, error) { return readManifest(dir) }
