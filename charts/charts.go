// Package charts holds labsbx's own Helm charts, embedded in the binary: postgres (the
// sandbox database laid out like production) and demo-app (one app's ServiceAccount,
// VSO resources and a Deployment whose readiness proves its credentials). It also pins
// the versions of the upstream charts that the full profile installs (versions.go).
package charts

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// The "all:" prefix keeps templates/_helpers.tpl, which plain embedding skips.
//
//go:embed all:postgres all:demo-app
var files embed.FS

// FS returns the embedded chart directories, one per chart name.
func FS() fs.FS { return files }

// Load returns one of the embedded charts (Postgres or DemoApp) as Helm loads it from
// a directory.
func Load(name string) (*chart.Chart, error) {
	if name != Postgres && name != DemoApp {
		return nil, fmt.Errorf("no embedded chart %q (have %q and %q)", name, Postgres, DemoApp)
	}
	var bufs []*loader.BufferedFile
	err := fs.WalkDir(files, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := relPath(name, p)
		bufs = append(bufs, &loader.BufferedFile{Name: rel, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart %s: %w", name, err)
	}
	ch, err := loader.LoadFiles(bufs)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart %s: %w", name, err)
	}
	return ch, nil
}

func relPath(root, p string) (string, bool) {
	prefix := root + "/"
	if len(p) > len(prefix) && p[:len(prefix)] == prefix {
		return path.Clean(p[len(prefix):]), true
	}
	return p, false
}

// Values converts a typed values struct (PostgresValues, DemoAppValues) into the map
// Helm takes, through its JSON form, so that the field names are the chart's.
func Values(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
