package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/internal/redact"
)

// SaveOptions are the inputs of Save.
type SaveOptions struct {
	Dir      string
	Contents Contents
	// ChartRepo replaces charts.HashiCorpRepo for the upstream charts (a mirror).
	ChartRepo string
	// Labsbx is the version of labsbx writing the bundle.
	Labsbx string
	// Step reports progress: it runs fn under a line naming what is done.
	Step func(name string, fn func() error) error
	Now  func() time.Time
}

// Save writes every image and chart of o.Contents into o.Dir. Images the engine lacks
// are pulled first. It is safe to re-run: a file already saved for the same image ID or
// chart version is kept, and the manifest is written last, atomically, so an
// interrupted save leaves no bundle.json that promises more than is there.
func Save(ctx context.Context, eng Engine, o SaveOptions) (*Manifest, error) {
	if o.Step == nil {
		o.Step = func(_ string, fn func() error) error { return fn() }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dir, err := prepareDir(o.Dir)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, Labsbx: o.Labsbx, Profile: o.Contents.Profile}
	for _, w := range o.Contents.Images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var img Image
		err := o.Step("Saving image "+w.Ref, func() error {
			var err error
			img, err = saveImage(ctx, eng, dir, w)
			return err
		})
		if err != nil {
			return nil, err
		}
		m.Images = append(m.Images, img)
	}
	for _, r := range o.Contents.Charts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var c Chart
		err := o.Step(fmt.Sprintf("Saving chart %s %s (%s)", r.Name, r.Version, chartSource(r, o.ChartRepo)), func() error {
			var err error
			c, err = saveChart(dir, r, o.ChartRepo)
			return err
		})
		if err != nil {
			return nil, err
		}
		m.Charts = append(m.Charts, c)
	}
	m.Created = o.Now().UTC()
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

// prepareDir creates dir, or accepts it when it is empty or already a bundle, so that
// a save never writes into a directory of someone else's.
func prepareDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("no bundle directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	case len(entries) > 0 && !exists(filepath.Join(abs, markerFile)):
		return "", fmt.Errorf("%s is not empty and holds no labsbx bundle; give an empty or new directory", dir)
	}
	for _, d := range []string{imagesDir, chartsDir} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(abs, markerFile), []byte("labsbx bundle; see bundle.json\n"), 0o644); err != nil {
		return "", err
	}
	return abs, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// saveImage writes w's archive as images/<component>-<id>.tar, named by image ID so
// that a re-run keeps it and a changed image gets a new file.
func saveImage(ctx context.Context, eng Engine, dir string, w Want) (Image, error) {
	if _, err := eng.EnsureImage(ctx, w.Ref); err != nil {
		return Image{}, err
	}
	id, ok, err := eng.ImageID(ctx, w.Ref)
	if err != nil {
		return Image{}, err
	}
	if !ok {
		return Image{}, fmt.Errorf("image %s vanished while saving the bundle; run bundle save again", w.Ref)
	}
	hexID := strings.TrimPrefix(id, "sha256:")
	if len(hexID) > 12 {
		hexID = hexID[:12]
	}
	rel := path.Join(imagesDir, safeName(w.Component)+"-"+hexID+".tar")
	layers, err := eng.ImageLayers(ctx, w.Ref)
	if err != nil {
		return Image{}, err
	}
	img := Image{Component: w.Component, Ref: w.Ref, ID: id, Layers: layers, File: rel}
	img.SHA256, img.Size, err = writeOnce(filepath.Join(dir, filepath.FromSlash(rel)), func(f io.Writer) error {
		return eng.SaveImage(ctx, w.Ref, f)
	})
	return img, err
}

// saveChart writes the chart archive charts/<name>-<version>.tgz: an embedded chart is
// packaged from the binary, an upstream one pulled from its repository (or mirror).
func saveChart(dir string, r charts.Ref, mirror string) (Chart, error) {
	rel := path.Join(chartsDir, r.Name+"-"+r.Version+".tgz")
	c := Chart{Name: r.Name, Version: r.Version, Source: chartSource(r, mirror), File: rel}
	var err error
	c.SHA256, c.Size, err = writeOnce(filepath.Join(dir, filepath.FromSlash(rel)), func(f io.Writer) error {
		tmp, err := os.MkdirTemp("", "labsbx-chart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		p, err := FetchChart(r, mirror, tmp)
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(f, src)
		return err
	})
	return c, err
}

func chartSource(r charts.Ref, mirror string) string {
	if r.Embedded {
		return "embedded"
	}
	if mirror != "" {
		return redactURL(mirror)
	}
	return r.Repo
}

// redactURL drops credentials (user:token@) from a repository URL, for the manifest,
// progress and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a repository URL that does not parse)"
	}
	u.User = nil
	return u.String()
}

// FetchChart writes the chart archive of r into tmp and returns its path: an embedded
// chart packaged from the binary, an upstream one pulled from its repository (or the
// mirror).
func FetchChart(r charts.Ref, mirror, tmp string) (string, error) {
	if r.Embedded {
		ch, err := charts.Load(r.Name)
		if err != nil {
			return "", err
		}
		if ch.Metadata.Version != r.Version {
			return "", fmt.Errorf("embedded chart %s is version %s, not %s", r.Name, ch.Metadata.Version, r.Version)
		}
		return chartutil.Save(ch, tmp)
	}
	repo := r.Repo
	if mirror != "" {
		repo = mirror
	}
	p := action.NewPullWithOpts(action.WithConfig(new(action.Configuration)))
	p.Settings = cli.New()
	p.RepoURL = repo
	p.Version = r.Version
	p.DestDir = tmp
	if _, err := p.Run(r.Name); err != nil {
		return "", fmt.Errorf("pull chart %s %s from %s: %w; on a machine without access to it, give a mirror with --chart-repo",
			r.Name, r.Version, redactURL(repo), redactErr(err, repo))
	}
	want := filepath.Join(tmp, r.Name+"-"+r.Version+".tgz")
	if !exists(want) {
		return "", fmt.Errorf("pull chart %s %s from %s: no %s was written", r.Name, r.Version, redactURL(repo), filepath.Base(want))
	}
	return want, nil
}

// redactErr is err with any credentials of the repository URL taken out of its text.
func redactErr(err error, repo string) error {
	u, perr := url.Parse(repo)
	if perr != nil || u.User == nil {
		return err
	}
	pw, _ := u.User.Password()
	return redact.Err(err, pw, u.User.Username())
}

// writeOnce returns the sha256 and size of path, writing it through fill first unless
// it exists. The file appears only complete: fill writes a temporary file that is
// synced and renamed into place.
func writeOnce(path string, fill func(io.Writer) error) (sum string, size int64, err error) {
	if exists(path) {
		return hashFile(path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err = fill(cw); err != nil {
		return "", 0, err
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return "", 0, err
	}
	if err = tmp.Close(); err != nil {
		return "", 0, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// safeName keeps a component name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}
