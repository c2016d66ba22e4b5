package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/internal/redact"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// SaveOptions are the inputs of Save.
type SaveOptions struct {
	// Dir is the bundle directory, approved by the guard (format DirFormat).
	Dir      guard.DirApproval
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
	dir := o.Dir
	if err := prepareDir(dir); err != nil {
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

// DirFormat is what a bundle directory must be before a save writes into it: new,
// empty, or already a bundle, so that a save never writes into a directory of
// someone else's.
var DirFormat = guard.DirFormat{Name: "labsbx bundle directory", Recognise: func(names []string) error {
	if len(names) == 0 || slices.Contains(names, markerFile) {
		return nil
	}
	return errors.New("it is not empty and holds no labsbx bundle")
}}

// The files a save writes: archives named by their content are kept once written; the
// marker and the manifest are replaced only by their own kind.
var (
	archiveFormat  = guard.Format{Name: "bundle archive", KeepExisting: true}
	markerFormat   = guard.Format{Name: "bundle marker", KeepExisting: true}
	manifestFormat = guard.Format{Name: "bundle manifest (bundle.json)", Recognise: func(b []byte) error {
		var m struct {
			Format *int `json:"format"`
		}
		if json.Unmarshal(b, &m) != nil || m.Format == nil {
			return errors.New("no bundle format")
		}
		return nil
	}}
)

// prepareDir creates the bundle directory, marks it, then makes its sub-directories.
func prepareDir(dir guard.DirApproval) error {
	if err := dir.MkdirAll(0o755); err != nil {
		return err
	}
	marker, err := dir.File(markerFile, markerFormat)
	if err != nil {
		return err
	}
	if ok, err := marker.Exists(); err != nil {
		return err
	} else if !ok {
		if err := marker.WriteAtomic([]byte("labsbx bundle; see bundle.json\n"), 0o644); err != nil {
			return err
		}
	}
	return dir.MkdirAll(0o755, imagesDir, chartsDir)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// saveImage writes w's archive as images/<component>-<id>.tar, named by image ID so
// that a re-run keeps it and a changed image gets a new file.
func saveImage(ctx context.Context, eng Engine, dir guard.DirApproval, w Want) (Image, error) {
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
	img.SHA256, img.Size, err = writeOnce(dir, rel, func(f io.Writer) error {
		return eng.SaveImage(ctx, w.Ref, f)
	})
	return img, err
}

// saveChart writes the chart archive charts/<name>-<version>.tgz: an embedded chart is
// packaged from the binary, an upstream one pulled from its repository (or mirror).
func saveChart(dir guard.DirApproval, r charts.Ref, mirror string) (Chart, error) {
	rel := path.Join(chartsDir, r.Name+"-"+r.Version+".tgz")
	c := Chart{Name: r.Name, Version: r.Version, Source: chartSource(r, mirror), File: rel}
	var err error
	c.SHA256, c.Size, err = writeOnce(dir, rel, func(f io.Writer) error { return CopyChart(r, mirror, f) })
	return c, err
}

// CopyChart writes the chart archive of r to w, fetched as FetchChart does through a
// temporary directory that it removes.
func CopyChart(r charts.Ref, mirror string, w io.Writer) error {
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
	_, err = io.Copy(w, src)
	return err
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
	if dir, ok := LocalChartDir(repo); ok {
		return copyLocalChart(r, dir, tmp)
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

// LocalChartDir reports whether a --chart-repo names a local directory of chart archives
// (a path, or a file:// URL) rather than a Helm repository, and which.
func LocalChartDir(repo string) (string, bool) {
	if rest, ok := strings.CutPrefix(repo, "file://"); ok {
		return rest, true
	}
	if strings.Contains(repo, "://") {
		return "", false
	}
	return repo, repo != ""
}

// maxChartSize bounds the read of a chart archive: the charts labsbx pins are under 1 MiB.
const maxChartSize = 64 << 20

// copyLocalChart copies <name>-<version>.tgz from a local chart directory into tmp,
// after checking that it is that chart at that version.
func copyLocalChart(r charts.Ref, dir, tmp string) (string, error) {
	name := r.Name + "-" + r.Version + ".tgz"
	b, err := fsutil.ReadRegular(filepath.Join(dir, name), maxChartSize)
	if err != nil {
		return "", fmt.Errorf("chart %s %s from directory %s: %w", r.Name, r.Version, dir, err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("chart %s in %s: %w", name, dir, err)
	}
	if ch.Metadata.Name != r.Name || ch.Metadata.Version != r.Version {
		return "", fmt.Errorf("%s in %s is chart %s %s, not %s %s", name, dir, ch.Metadata.Name, ch.Metadata.Version, r.Name, r.Version)
	}
	out := filepath.Join(tmp, name)
	return out, os.WriteFile(out, b, 0o600)
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

// writeOnce returns the sha256 and size of the file rel of dir, writing it through
// fill first unless it exists. The file appears only complete: the guard's approval
// writes a temporary file that is synced and renamed into place.
func writeOnce(dir guard.DirApproval, rel string, fill func(io.Writer) error) (sum string, size int64, err error) {
	file, err := dir.File(filepath.FromSlash(rel), archiveFormat)
	if err != nil {
		return "", 0, err
	}
	if ok, err := file.Exists(); err != nil {
		return "", 0, err
	} else if ok {
		f, err := file.Open()
		if err != nil {
			return "", 0, err
		}
		defer f.Close()
		return hashReader(f)
	}
	h := sha256.New()
	cw := &countingWriter{w: h}
	err = file.WriteFrom(0o644, func(w io.Writer) error {
		cw.w = io.MultiWriter(w, h)
		return fill(cw)
	})
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := fsutil.OpenRegular(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashReader(f)
}

func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
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
