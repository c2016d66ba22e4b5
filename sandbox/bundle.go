package sandbox

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// BundleContents is what a bundle must hold for `up` with these options: the plan's
// images and charts, so that a bundle and the run cannot disagree.
func BundleContents(getenv func(string) string, opts UpOptions) (bundle.Contents, error) {
	plan, err := PlanUp(getenv, opts)
	if err != nil {
		return bundle.Contents{}, err
	}
	c := bundle.Contents{Profile: plan.Profile, Charts: plan.Charts}
	for _, img := range plan.Images {
		c.Images = append(c.Images, bundle.Want{Component: img.Component, Ref: img.Ref})
	}
	return c, nil
}

// BundleSaveOptions are the inputs of `labsbx bundle save`.
type BundleSaveOptions struct {
	Up        UpOptions
	Dir       string
	ChartRepo string
	Labsbx    string
}

// SaveBundle writes the offline bundle of the plan of opts.Up into opts.Dir, through
// the guard-approved local Docker engine (images it lacks are pulled).
func SaveBundle(ctx context.Context, cfg *Configuration, opts BundleSaveOptions) (*bundle.Manifest, error) {
	if opts.Dir == "" {
		return nil, errors.New("no bundle directory given")
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	// The guard judges the directory before anything is pulled or written.
	dir, err := guard.ApproveDir(abs, bundle.DirFormat, cfg.WriteScope())
	if err != nil {
		return nil, err
	}
	contents, err := BundleContents(cfg.Getenv, opts.Up)
	if err != nil {
		return nil, err
	}
	appr, err := guard.ApproveDocker(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	rt, err := docker.New(appr, opts.Up.Name, "")
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	if err := rt.Ping(ctx); err != nil {
		return nil, err
	}
	return bundle.Save(ctx, rt, bundle.SaveOptions{
		Dir: dir, Contents: contents, ChartRepo: opts.ChartRepo, Labsbx: opts.Labsbx,
		Step: cfg.progress().Step, Now: cfg.now,
	})
}

// openBundle opens and checks the bundle of `up --bundle` before anything else runs:
// a bundle that lacks part of the plan fails here, with nothing touched.
func openBundle(getenv func(string) string, opts UpOptions) (*bundle.Bundle, error) {
	b, err := bundle.Open(opts.Bundle)
	if err != nil {
		return nil, err
	}
	contents, err := BundleContents(getenv, opts)
	if err != nil {
		return nil, err
	}
	if err := b.Covers(contents); err != nil {
		return nil, err
	}
	return b, nil
}

// BundleInspect shows what the bundle in Dir holds and whether it covers the plan of
// Up, with Verify hashing every file against its manifest (`labsbx bundle inspect`).
type BundleInspect struct {
	cfg    *Configuration
	Dir    string
	Up     UpOptions
	Verify bool
}

// NewBundleInspect prepares an inspection.
func NewBundleInspect(cfg *Configuration) *BundleInspect { return &BundleInspect{cfg: cfg} }

// BundleInspection is a bundle's manifest, and whether it covers the plan.
type BundleInspection struct {
	*bundle.Manifest
	Dir      string `json:"dir"`
	Verified bool   `json:"verified"`
	Covers   bool   `json:"covers"`
	Missing  string `json:"missing,omitempty"`
	// Profile is the profile the bundle was checked against.
	Profile string `json:"-"`
}

// Run opens, optionally verifies, and checks the bundle. A bundle that lacks part of
// the plan is an error too, returned with the inspection.
func (b *BundleInspect) Run() (*BundleInspection, error) {
	bd, err := bundle.Open(b.Dir)
	if err != nil {
		return nil, err
	}
	if b.Verify {
		if err := bd.Verify(); err != nil {
			return nil, err
		}
	}
	up := b.Up
	if up.Profile == "" {
		up.Profile = bd.Manifest.Profile
	}
	contents, err := BundleContents(b.cfg.Getenv, up)
	if err != nil {
		return nil, err
	}
	res := &BundleInspection{Manifest: &bd.Manifest, Dir: bd.Dir, Verified: b.Verify, Profile: up.Profile}
	covers := bd.Covers(contents)
	res.Covers = covers == nil
	if covers != nil {
		res.Missing = covers.Error()
	}
	return res, covers
}
