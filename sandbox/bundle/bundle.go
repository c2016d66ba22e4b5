// Package bundle is the offline bundle: every image and chart a sandbox's plan needs,
// in one directory that `labsbx bundle save` writes and `labsbx up --bundle` reads
// without any network.
//
// Layout:
//
//	<dir>/bundle.json              the manifest (Manifest): what is here, with sha256s
//	<dir>/images/<component>-<id>.tar  one `docker save` archive per image
//	<dir>/charts/<name>-<version>.tgz  one Helm chart archive per chart
//	<dir>/.labsbx-bundle           written first, so that a re-run knows the directory
//
// A bundle holds no secret: images and charts only, never sandbox state.
package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// Format is the manifest format this build writes and reads.
const Format = 1

const (
	ManifestFile = "bundle.json"
	markerFile   = ".labsbx-bundle"
	imagesDir    = "images"
	chartsDir    = "charts"
)

// ErrNotBundle is returned for a directory that holds no labsbx bundle.
var ErrNotBundle = errors.New("not a labsbx bundle")

// Manifest is bundle.json.
type Manifest struct {
	Format  int       `json:"format"`
	Labsbx  string    `json:"labsbx"`
	Profile string    `json:"profile"`
	Created time.Time `json:"created"`
	Images  []Image   `json:"images"`
	Charts  []Chart   `json:"charts"`
}

// Image is one image archive of the bundle.
type Image struct {
	Component string `json:"component"`
	Ref       string `json:"ref"`
	// ID is the image ID (sha256:…) the engine reported when it was saved; Layers its
	// layer digests. A load must give the same ID, or the same layers (another Docker
	// image store gives one image another ID).
	ID     string   `json:"id"`
	Layers []string `json:"layers,omitempty"`
	File   string   `json:"file"`
	SHA256 string   `json:"sha256"`
	Size   int64    `json:"size"`
}

// Chart is one chart archive of the bundle.
type Chart struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Source is "embedded" or the Helm repository it was pulled from.
	Source string `json:"source"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Want is one image a plan needs.
type Want struct {
	Component string
	Ref       string
}

// Contents is what a plan needs from a bundle.
type Contents struct {
	Profile string
	Images  []Want
	Charts  []charts.Ref
}

// Engine is the Docker engine as the bundle uses it; *docker.Runtime is one.
type Engine interface {
	ImageID(ctx context.Context, ref string) (id string, ok bool, err error)
	ImageLayers(ctx context.Context, ref string) ([]string, error)
	EnsureImage(ctx context.Context, ref string) (docker.ImageState, error)
	SaveImage(ctx context.Context, ref string, w io.Writer) error
	LoadImage(ctx context.Context, archive io.Reader) error
}

var _ Engine = (*docker.Runtime)(nil)

// Bundle is an opened bundle directory.
type Bundle struct {
	Dir      string
	Manifest Manifest
}

// Open reads dir's manifest. It checks the format and that every file it names is
// inside dir; it does not hash them (Verify does, and LoadImages hashes what it loads).
func Open(dir string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := fsutil.ReadRegular(filepath.Join(abs, ManifestFile), maxManifestSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s; write one with `labsbx bundle save %s`", ErrNotBundle, dir, ManifestFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotBundle, filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("bundle %s has format %d; this labsbx reads format %d: save it again with this labsbx", dir, m.Format, Format)
	}
	for _, f := range m.files() {
		if !local(f) {
			return nil, fmt.Errorf("%w: %s names file %q outside the bundle", ErrNotBundle, filepath.Join(dir, ManifestFile), f)
		}
	}
	return &Bundle{Dir: abs, Manifest: m}, nil
}

func (m Manifest) files() []string {
	var out []string
	for _, i := range m.Images {
		out = append(out, i.File)
	}
	for _, c := range m.Charts {
		out = append(out, c.File)
	}
	return out
}

// local reports whether a manifest path stays inside the bundle.
func local(p string) bool { return p != "" && filepath.IsLocal(filepath.FromSlash(p)) }

// Covers checks that the bundle holds every image and chart c needs, at the same
// references and versions. The error lists everything missing at once.
func (b *Bundle) Covers(c Contents) error {
	var missing []string
	for _, w := range c.Images {
		if _, ok := b.image(w.Ref); !ok {
			missing = append(missing, fmt.Sprintf("image %s (%s)", w.Ref, w.Component))
		}
	}
	for _, r := range c.Charts {
		if _, ok := b.chart(r.Name, r.Version); !ok {
			missing = append(missing, fmt.Sprintf("chart %s %s", r.Name, r.Version))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("bundle %s (saved for profile %q) lacks %s; save it again with this config: `labsbx bundle save %s --profile %s`",
		b.Dir, b.Manifest.Profile, strings.Join(missing, ", "), b.Dir, c.Profile)
}

func (b *Bundle) image(ref string) (Image, bool) {
	i := slices.IndexFunc(b.Manifest.Images, func(i Image) bool { return i.Ref == ref })
	if i < 0 {
		return Image{}, false
	}
	return b.Manifest.Images[i], true
}

func (b *Bundle) chart(name, version string) (Chart, bool) {
	i := slices.IndexFunc(b.Manifest.Charts, func(c Chart) bool { return c.Name == name && c.Version == version })
	if i < 0 {
		return Chart{}, false
	}
	return b.Manifest.Charts[i], true
}

// ChartFile returns the path of the chart archive name at version, checked against
// its sha256.
func (b *Bundle) ChartFile(name, version string) (string, error) {
	c, ok := b.chart(name, version)
	if !ok {
		return "", fmt.Errorf("bundle %s has no chart %s %s", b.Dir, name, version)
	}
	p := b.path(c.File)
	if err := checkFile(p, c.SHA256, c.Size); err != nil {
		return "", err
	}
	return p, nil
}

func (b *Bundle) path(rel string) string { return filepath.Join(b.Dir, filepath.FromSlash(rel)) }

// Verify hashes every file of the bundle against the manifest.
func (b *Bundle) Verify() error {
	var errs []error
	for _, i := range b.Manifest.Images {
		errs = append(errs, checkFile(b.path(i.File), i.SHA256, i.Size))
	}
	for _, c := range b.Manifest.Charts {
		errs = append(errs, checkFile(b.path(c.File), c.SHA256, c.Size))
	}
	return errors.Join(errs...)
}

// checkFile compares a file's size and sha256 with the manifest's.
func checkFile(path, sum string, size int64) error {
	got, n, err := hashFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bundle file missing: %w; save the bundle again", err)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if n != size || got != sum {
		return fmt.Errorf("bundle file %s is damaged: %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s; save the bundle again",
			path, n, short(got), size, short(sum))
	}
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Loaded says what LoadImages did with one image.
type Loaded struct {
	Ref string `json:"ref"`
	// Action is "present" (the engine had this very image) or "loaded".
	Action string `json:"action"`
}

// LoadImages makes every wanted image present in the engine from the bundle, never
// from a registry: an image the engine has with the bundle's ID is left alone; any
// other is hashed, loaded, and checked to have the bundle's ID afterwards.
func (b *Bundle) LoadImages(ctx context.Context, eng Engine, wants []Want) ([]Loaded, error) {
	var out []Loaded
	for _, w := range wants {
		img, ok := b.image(w.Ref)
		if !ok {
			return out, fmt.Errorf("bundle %s has no image %s (%s)", b.Dir, w.Ref, w.Component)
		}
		same, err := sameImage(ctx, eng, w.Ref, img)
		if err != nil {
			return out, err
		}
		if same {
			out = append(out, Loaded{Ref: w.Ref, Action: "present"})
			continue
		}
		p := b.path(img.File)
		if err := checkFile(p, img.SHA256, img.Size); err != nil {
			return out, err
		}
		if err := loadFile(ctx, eng, p); err != nil {
			return out, fmt.Errorf("image %s from %s: %w", w.Ref, p, err)
		}
		if same, err = sameImage(ctx, eng, w.Ref, img); err != nil {
			return out, err
		}
		if !same {
			return out, fmt.Errorf("loading %s did not give image %s (%s) with ID %s; the bundle is damaged, save it again", p, w.Ref, w.Component, short(img.ID))
		}
		out = append(out, Loaded{Ref: w.Ref, Action: "loaded"})
	}
	return out, nil
}

// sameImage reports whether the engine's image ref is the bundle's: the same ID, or
// the same layers.
func sameImage(ctx context.Context, eng Engine, ref string, img Image) (bool, error) {
	id, ok, err := eng.ImageID(ctx, ref)
	if err != nil || !ok {
		return false, err
	}
	if id == img.ID {
		return true, nil
	}
	if len(img.Layers) == 0 {
		return false, nil
	}
	layers, err := eng.ImageLayers(ctx, ref)
	if err != nil {
		return false, err
	}
	return slices.Equal(layers, img.Layers), nil
}

func loadFile(ctx context.Context, eng Engine, path string) error {
	f, err := fsutil.OpenRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return eng.LoadImage(ctx, f)
}

// maxManifestSize bounds the read of bundle.json (a real one is a few KiB).
const maxManifestSize = 4 << 20

// writeManifest writes bundle.json atomically, through the guard.
func writeManifest(dir guard.DirApproval, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	file, err := dir.File(ManifestFile, manifestFormat)
	if err != nil {
		return err
	}
	return file.WriteAtomic(append(b, '\n'), 0o644)
}
