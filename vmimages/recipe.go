// Package vmimages holds the image recipes of the sandbox's arm64 VMs and the builder
// that turns a recipe into a cached qcow2 image.
//
// A recipe is a directory under recipes/ (embedded in the binary): recipe.yaml gives
// the Debian suite, packages, kernel and initrd, disk size and first-boot method;
// hooks/ and overlay/ are what the build runs and copies into the root file system.
// Every file of the directory goes into the recipe's hash, and the image is cached
// under <cache>/vmimages/<recipe>-<hash>/, so a changed recipe never reuses a stale
// image and an unchanged one is never built twice.
//
// Two sources produce an image:
//   - SourceLocal (Linux): mmdebstrap builds the root file system from Debian's arm64
//     packages (under qemu-user on other architectures), mkfs.ext4 -d makes the disk
//     and qemu-img converts it to qcow2. The VM boots the kernel and initrd directly.
//   - SourceCloud (macOS, or when a local build is not wanted): the official Debian
//     arm64 cloud image is downloaded and checked against Debian's SHA512SUMS. It
//     boots with UEFI and takes its identity from cloud-init.
package vmimages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed all:recipes
var recipesFS embed.FS

// builderVersion goes into every hash: bump it when the builder's code changes what it
// makes from the same recipe files.
const builderVersion = "1"

// First-boot methods.
const (
	// FirstBootFwCfg: labsbx-identity.service reads opt/dev.labsbx/* from QEMU's fw_cfg.
	FirstBootFwCfg = "fw-cfg"
	// FirstBootCloudInit: cloud-init's NoCloud data source, seeded over HTTP by labsbx.
	FirstBootCloudInit = "cloud-init"
)

// FwCfgNamespace is the fw_cfg directory that labsbx-identity reads.
const FwCfgNamespace = "opt/dev.labsbx"

// Recipe is one image recipe, as recipe.yaml writes it.
type Recipe struct {
	Name         string    `yaml:"name" json:"name"`
	Description  string    `yaml:"description" json:"description"`
	Arch         string    `yaml:"arch" json:"arch"`
	Suite        string    `yaml:"suite" json:"suite"`
	Variant      string    `yaml:"variant" json:"variant"`
	Packages     []string  `yaml:"packages" json:"packages"`
	DpkgExcludes []string  `yaml:"dpkgExcludes" json:"dpkgExcludes"`
	Initramfs    Initramfs `yaml:"initramfs" json:"initramfs"`
	// Kernel and Initrd are globs inside the root file system; each must match one file.
	Kernel    string `yaml:"kernel" json:"kernel"`
	Initrd    string `yaml:"initrd" json:"initrd"`
	Append    string `yaml:"append" json:"append"`
	DiskSize  Size   `yaml:"diskSize" json:"diskSize"`
	FirstBoot string `yaml:"firstBoot" json:"firstBoot"`
	// User is the login user: the image has it, and the first boot gives it the
	// sandbox's key and passwordless sudo.
	User  string `yaml:"user" json:"user"`
	Cloud *Cloud `yaml:"cloud" json:"cloud,omitempty"`

	files map[string][]byte // every file of the recipe dir, by path relative to it
	hash  string
}

// Initramfs says what goes into the one initramfs the build makes.
type Initramfs struct {
	Modules []string `yaml:"modules" json:"modules"`
	// Compress is none (the fastest to unpack under emulation) or gzip.
	Compress string `yaml:"compress" json:"compress"`
}

// Cloud is the download that replaces a local build.
type Cloud struct {
	URL       string `yaml:"url" json:"url"`
	Checksums string `yaml:"checksums" json:"checksums"` // a SHA512SUMS file beside the image
	DiskSize  Size   `yaml:"diskSize" json:"diskSize"`
}

// Size is a byte count written "4GiB", "512MiB" or a plain number of bytes.
type Size int64

var sizeRE = regexp.MustCompile(`^([0-9]+)(KiB|MiB|GiB|TiB)?$`)

// ParseSize reads "4GiB", "512MiB" or "1048576".
func ParseSize(s string) (Size, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q: use a number with KiB, MiB, GiB or TiB", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	shift := map[string]uint{"": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n << shift), nil
}

func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func (s Size) String() string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if s > 0 && int64(s)%(1<<u.shift) == 0 {
			return strconv.FormatInt(int64(s)>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Hash is the recipe's content hash: 16 hex digits of the sha256 of the builder
// version and every file of the recipe directory, path and content.
func (r *Recipe) Hash() string { return r.hash }

// Files returns the recipe directory's files, by relative path, for the build.
func (r *Recipe) Files() map[string][]byte { return r.files }

// Names lists the embedded recipes.
func Names() []string {
	entries, _ := fs.ReadDir(recipesFS, "recipes")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// ErrUnknownRecipe is returned for a name that no embedded recipe has.
var ErrUnknownRecipe = errors.New("unknown VM image recipe")

// Load reads an embedded recipe.
func Load(name string) (*Recipe, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownRecipe, name, strings.Join(Names(), ", "))
	}
	sub, err := fs.Sub(recipesFS, path.Join("recipes", name))
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "recipe.yaml"); err != nil {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownRecipe, name, strings.Join(Names(), ", "))
	}
	return Parse(name, sub)
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// Parse reads the recipe in dir (recipe.yaml and the files beside it).
func Parse(name string, dir fs.FS) (*Recipe, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(dir, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(dir, p)
		files[p] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read recipe %s: %w", name, err)
	}
	var r Recipe
	dec := yaml.NewDecoder(bytes.NewReader(files["recipe.yaml"]))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("recipe %s: recipe.yaml: %w", name, err)
	}
	if err := r.validate(name); err != nil {
		return nil, err
	}
	r.files = files
	r.hash = hashFiles(files)
	return &r, nil
}

func (r *Recipe) validate(dir string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Name != dir {
		bad("name %q differs from its directory %q", r.Name, dir)
	}
	if r.Arch != "arm64" {
		bad("arch %q: only arm64 is supported", r.Arch)
	}
	if r.Suite == "" || len(r.Packages) == 0 {
		bad("suite and packages are required")
	}
	if r.Kernel == "" || r.Initrd == "" || r.Append == "" {
		bad("kernel, initrd and append are required (direct kernel boot)")
	}
	if r.DiskSize < 1<<30 {
		bad("diskSize %s: at least 1GiB", r.DiskSize)
	}
	if r.FirstBoot != FirstBootFwCfg {
		bad("firstBoot %q: the local build supports %q", r.FirstBoot, FirstBootFwCfg)
	}
	if len(r.Initramfs.Modules) == 0 {
		bad("initramfs modules are required (the drivers of the root disk at least)")
	}
	if c := r.Initramfs.Compress; c != "none" && c != "gzip" {
		bad("initramfs compress %q: none or gzip", c)
	}
	if !userRE.MatchString(r.User) {
		bad("user %q is not a valid login name", r.User)
	}
	if c := r.Cloud; c != nil && (!strings.HasPrefix(c.URL, "https://") || !strings.HasPrefix(c.Checksums, "https://")) {
		bad("cloud url and checksums must be https:// URLs")
	}
	for _, p := range append(append([]string{}, r.Packages...), r.Initramfs.Modules...) {
		if !pkgRE.MatchString(p) {
			bad("%q is not a package or module name", p)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("recipe %s: %w", dir, errors.Join(errs...))
	}
	return nil
}

var (
	userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	pkgRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9+._-]*$`)
)

func hashFiles(files map[string][]byte) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	fmt.Fprintf(h, "labsbx vmimages builder %s\n", builderVersion)
	for _, p := range paths {
		// Length-prefixed, so that no two directories hash alike.
		fmt.Fprintf(h, "%d:%s\n%d:", len(p), p, len(files[p]))
		h.Write(files[p])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
