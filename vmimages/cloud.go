package vmimages

import (
	"bufio"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// fetchCloud downloads the recipe's cloud image into dir and checks it against the
// SHA512SUMS file published beside it. Both come over HTTPS from the same host: the
// checksum catches a corrupt or truncated download, and HTTPS the tampering.
func (b *Builder) fetchCloud(ctx context.Context, r *Recipe, dir string, img *Image) error {
	c := r.Cloud
	if c == nil {
		return fmt.Errorf("recipe %s has no cloud image; build it locally on Linux (--source local)", r.Name)
	}
	want, err := b.checksum(ctx, c.Checksums, path.Base(c.URL))
	if err != nil {
		return err
	}
	b.log().Info("downloading the cloud image", "url", c.URL)
	got, err := b.download(ctx, c.URL, filepath.Join(dir, diskFile))
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: sha512 %s does not match %s in %s", c.URL, got, want, c.Checksums)
	}
	img.Disk, img.SHA512 = diskFile, got
	img.Firmware, img.FirstBoot, img.DiskSize = FirmwareUEFI, FirstBootCloudInit, c.DiskSize
	return nil
}

func (b *Builder) client() *http.Client {
	if b.HTTPClient != nil {
		return b.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Minute}
}

// checksum reads the sha512 of file from a SHA512SUMS document ("<hex>  <file>").
func (b *Builder) checksum(ctx context.Context, url, file string) (string, error) {
	body, err := b.get(ctx, url)
	if err != nil {
		return "", err
	}
	defer body.Close()
	sc := bufio.NewScanner(io.LimitReader(body, 1<<20))
	for sc.Scan() {
		sum, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if !ok || name != file {
			continue
		}
		if _, err := hex.DecodeString(sum); err != nil || len(sum) != 128 {
			return "", fmt.Errorf("%s: malformed sha512 for %s", url, file)
		}
		return strings.ToLower(sum), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", url, err)
	}
	return "", fmt.Errorf("%s lists no checksum for %s", url, file)
}

// download writes url to dst and returns the sha512 of what it wrote.
func (b *Builder) download(ctx context.Context, url, dst string) (string, error) {
	body, err := b.get(ctx, url)
	if err != nil {
		return "", err
	}
	defer body.Close()
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	h := sha512.New()
	if _, err := io.Copy(io.MultiWriter(f, h), body); err != nil {
		f.Close()
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (b *Builder) get(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("download %s: %w", url, errors.New(resp.Status))
	}
	return resp.Body, nil
}
