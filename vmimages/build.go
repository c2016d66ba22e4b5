package vmimages

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// Builder makes images into the cache. The zero value is not usable: set CacheRoot.
type Builder struct {
	// CacheRoot is the labsbx cache root (see CacheRoot); images go to its vmimages/.
	CacheRoot string
	// Source picks how the image is made; SourceAuto resolves by platform.
	Source Source
	// Getenv reads LABSBX_VM_IMAGE_SOURCE and LABSBX_DEBIAN_MIRROR (nil: none set).
	Getenv func(string) string
	// Log gets one line per build phase.
	Log *slog.Logger
	// HTTPClient downloads the cloud image (nil: a client honouring the proxy variables).
	HTTPClient *http.Client
}

// Result is what Ensure did.
type Result struct {
	Image *Image `json:"image"`
	// Built is false when the image was already in the cache.
	Built    bool          `json:"built"`
	Duration time.Duration `json:"durationNanos"`
}

// Ensure returns the cached image of recipe name, making it first when it is missing
// or when force is set. Builds of the same image wait for each other (a lock file
// beside it); a build goes to a temporary directory that is renamed into place only
// when complete, so an interrupted build leaves no image behind.
func (b *Builder) Ensure(ctx context.Context, name string, force bool) (*Result, error) {
	t0 := time.Now()
	r, err := Load(name)
	if err != nil {
		return nil, err
	}
	src, err := b.Source.Resolve(b.getenv)
	if err != nil {
		return nil, err
	}
	root := ImagesDir(b.CacheRoot)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create image cache: %w", err)
	}
	dir := filepath.Join(root, r.DirName(src))
	lock := flock.New(dir + ".lock")
	ok, err := lock.TryLockContext(ctx, 500*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("lock image %s: %w", filepath.Base(dir), err)
	}
	defer lock.Unlock()

	if !force {
		if img, err := readManifest(dir); err == nil {
			return &Result{Image: img, Duration: time.Since(t0)}, nil
		}
	}
	tmp, err := os.MkdirTemp(root, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	img := &Image{Recipe: r.Name, Hash: r.SourceHash(src), Source: src, User: r.User}
	b.log().Info("building VM image", "recipe", r.Name, "hash", img.Hash, "source", src, "dir", dir)
	switch src {
	case SourceLocal:
		err = b.buildLocal(ctx, r, tmp, img)
	case SourceCloud:
		err = b.fetchCloud(ctx, r, tmp, img)
	default:
		err = fmt.Errorf("unknown image source %q", src)
	}
	if err != nil {
		return nil, fmt.Errorf("build VM image %s from %s: %w", r.Name, src, err)
	}
	img.BuiltAt = time.Now().UTC()
	img.BuildSeconds = time.Since(t0).Seconds()
	if err := writeManifest(tmp, img); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	// Replace an old build (force) only now that the new one is complete.
	if _, err := os.Stat(dir); err == nil {
		old := dir + ".old"
		_ = os.RemoveAll(old)
		if err := os.Rename(dir, old); err != nil {
			return nil, err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("install image %s: %w", dir, err)
	}
	img.Dir = dir
	return &Result{Image: img, Built: true, Duration: time.Since(t0)}, nil
}

func (b *Builder) getenv(k string) string {
	if b.Getenv == nil {
		return ""
	}
	return b.Getenv(k)
}

func (b *Builder) log() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.New(slog.DiscardHandler)
}
