package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/client"
)

// ImageID returns the ID (sha256:…) of the local image ref; ok is false when the engine
// does not have it.
func (r *Runtime) ImageID(ctx context.Context, ref string) (id string, ok bool, err error) {
	img, err := r.eng.ImageInspect(ctx, ref)
	switch {
	case isNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img.ID, true, nil
}

// ImageLayers returns the layer digests (the uncompressed diff IDs) of the local image
// ref: the same for one image in Docker's classic and containerd image stores, whose
// image IDs differ.
func (r *Runtime) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	img, err := r.eng.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img.RootFS.Layers, nil
}

// SaveImage writes ref as a `docker save` archive (it keeps the tag, so that loading
// it restores ref).
func (r *Runtime) SaveImage(ctx context.Context, ref string, w io.Writer) error {
	rc, err := r.eng.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("save image %s: %w", ref, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("save image %s: %w", ref, err)
	}
	return nil
}

// LoadImage loads a `docker save` archive into the engine, as `docker load` does.
func (r *Runtime) LoadImage(ctx context.Context, archive io.Reader) error {
	resp, err := r.eng.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load image: %w", err)
	}
	defer resp.Body.Close()
	// The engine streams JSON messages; a failed load is an errorDetail in the stream,
	// not an HTTP error.
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load image: reading the engine's answer: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("load image: %s", strings.TrimSpace(m.ErrorDetail.Message))
		}
		if m.Error != "" {
			return fmt.Errorf("load image: %s", strings.TrimSpace(m.Error))
		}
	}
}
