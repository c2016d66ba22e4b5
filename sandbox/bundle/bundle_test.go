package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// fakeEngine is the Docker engine at the Engine boundary: images are ref -> ID, and an
// archive is "ref id" in text.
type fakeEngine struct {
	images map[string]string
	saves  int
	loads  int
	// otherStore gives loaded images other IDs for the same layers, as Docker's
	// containerd image store does for an image saved from the classic one.
	otherStore bool
}

func (f *fakeEngine) ImageLayers(_ context.Context, ref string) ([]string, error) {
	id, ok := f.images[ref]
	if !ok {
		return nil, fmt.Errorf("no image %s", ref)
	}
	return []string{"layer-of-" + strings.TrimPrefix(id, "other:")}, nil
}

func newFakeEngine(images map[string]string) *fakeEngine { return &fakeEngine{images: images} }

func (f *fakeEngine) ImageID(_ context.Context, ref string) (string, bool, error) {
	id, ok := f.images[ref]
	return id, ok, nil
}

func (f *fakeEngine) EnsureImage(_ context.Context, ref string) (docker.ImageState, error) {
	if _, ok := f.images[ref]; !ok {
		return "", fmt.Errorf("image %s is not on this machine and could not be pulled", ref)
	}
	return docker.ImagePresent, nil
}

func (f *fakeEngine) SaveImage(_ context.Context, ref string, w io.Writer) error {
	f.saves++
	_, err := fmt.Fprintf(w, "%s %s", ref, f.images[ref])
	return err
}

func (f *fakeEngine) LoadImage(_ context.Context, r io.Reader) error {
	f.loads++
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ref, id, ok := strings.Cut(string(b), " ")
	if !ok {
		return errors.New("not an archive")
	}
	if f.otherStore {
		id = "other:" + id
	}
	f.images[ref] = id
	return nil
}

var testContents = Contents{
	Profile: "vault",
	Images: []Want{
		{Component: "postgres", Ref: "labsbx.local/postgres:15"},
		{Component: "vault", Ref: "labsbx.local/vault:1.21.0"},
	},
	Charts: []charts.Ref{{Name: charts.Postgres, Version: charts.PostgresChartVersion, Embedded: true}},
}

func testEngine() *fakeEngine {
	return newFakeEngine(map[string]string{
		"labsbx.local/postgres:15":  "sha256:aaaaaaaaaaaaaaaaaaaa",
		"labsbx.local/vault:1.21.0": "sha256:bbbbbbbbbbbbbbbbbbbb",
	})
}

func save(t *testing.T, eng Engine, dir string, c Contents) *Manifest {
	t.Helper()
	m, err := Save(context.Background(), eng, SaveOptions{Dir: approveDir(t, dir), Contents: c, Labsbx: "test"})
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	return m
}

func TestSaveWritesManifestImagesAndEmbeddedChart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	eng := testEngine()
	m := save(t, eng, dir, testContents)

	if len(m.Images) != 2 || len(m.Charts) != 1 {
		t.Fatalf("manifest: %+v", m)
	}
	if m.Images[1].File != "images/vault-bbbbbbbbbbbb.tar" || m.Images[1].ID != "sha256:bbbbbbbbbbbbbbbbbbbb" {
		t.Errorf("vault image entry: %+v", m.Images[1])
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(); err != nil {
		t.Fatalf("Verify of a fresh bundle: %v", err)
	}
	if err := b.Covers(testContents); err != nil {
		t.Fatalf("Covers: %v", err)
	}
	// The chart archive is a loadable chart at the pinned version.
	p, err := b.ChartFile(charts.Postgres, charts.PostgresChartVersion)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(p)
	if err != nil {
		t.Fatalf("load %s: %v", p, err)
	}
	if ch.Name() != charts.Postgres || ch.Metadata.Version != charts.PostgresChartVersion {
		t.Errorf("chart in bundle: %s %s", ch.Name(), ch.Metadata.Version)
	}
}

func TestSaveIsResumable(t *testing.T) {
	dir := t.TempDir()
	eng := testEngine()
	first := save(t, eng, dir, testContents)
	// An interrupted earlier save leaves partial files; they are not taken for images.
	if err := os.WriteFile(filepath.Join(dir, "images", ".vault-x.tar.partial-1"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := save(t, eng, dir, testContents)
	if eng.saves != 2 {
		t.Errorf("a re-run saved the images again: %d saves, want 2", eng.saves)
	}
	if first.Images[0].SHA256 != second.Images[0].SHA256 {
		t.Errorf("the kept file's sha256 changed")
	}
	// A changed image gets a new file.
	eng.images["labsbx.local/vault:1.21.0"] = "sha256:cccccccccccccccccccc"
	third := save(t, eng, dir, testContents)
	if third.Images[1].File == first.Images[1].File || eng.saves != 3 {
		t.Errorf("a changed image reused %s (%d saves)", third.Images[1].File, eng.saves)
	}
}

func TestSaveRefusesAForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := guard.ApproveDir(dir, DirFormat, guard.WriteScope{})
	if !errors.Is(err, guard.ErrRefused) || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a bundle dir that is a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a manifest was written into the foreign directory")
	}
}

func TestSaveFailsWithoutTheImage(t *testing.T) {
	dir := t.TempDir()
	eng := newFakeEngine(map[string]string{})
	_, err := Save(context.Background(), eng, SaveOptions{Dir: approveDir(t, dir), Contents: testContents})
	if err == nil || !strings.Contains(err.Error(), "labsbx.local/postgres:15") {
		t.Fatalf("Save without the image: %v", err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotBundle) {
		t.Errorf("a failed save left a manifest: Open = %v", err)
	}
}

func TestCoversListsEverythingMissing(t *testing.T) {
	dir := t.TempDir()
	save(t, testEngine(), dir, testContents)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Contents{
		Profile: "full",
		Images:  append(append([]Want(nil), testContents.Images...), Want{Component: "k3s", Ref: "rancher/k3s:v1.34.2-k3s1"}),
		Charts: []charts.Ref{
			{Name: charts.Postgres, Version: "9.9.9"},
			{Name: charts.Vault, Version: charts.VaultChartVersion},
		},
	}
	err = b.Covers(want)
	if err == nil {
		t.Fatal("Covers accepted a bundle that lacks three things")
	}
	for _, s := range []string{"image rancher/k3s:v1.34.2-k3s1 (k3s)", "chart postgres 9.9.9", "chart vault " + charts.VaultChartVersion, "--profile full"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Covers error lacks %q: %v", s, err)
		}
	}
}

func TestOpenRefusesBadManifests(t *testing.T) {
	for name, m := range map[string]string{
		"format":    `{"format": 99}`,
		"traversal": `{"format": 1, "images": [{"ref": "x", "file": "../../etc/passwd"}]}`,
		"absolute":  `{"format": 1, "charts": [{"name": "x", "file": "/etc/passwd"}]}`,
		"json":      `{"format": 1,`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(m), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); err == nil {
				t.Fatalf("Open accepted %s", m)
			}
		})
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotBundle) || !strings.Contains(err.Error(), "bundle save") {
		t.Fatalf("Open of an empty directory: %v", err)
	}
}

func TestLoadImages(t *testing.T) {
	dir := t.TempDir()
	save(t, testEngine(), dir, testContents)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// An engine without the images gets them loaded; one that has them is left alone.
	eng := newFakeEngine(map[string]string{"labsbx.local/postgres:15": "sha256:aaaaaaaaaaaaaaaaaaaa"})
	got, err := b.LoadImages(ctx, eng, testContents.Images)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "present" || got[1].Action != "loaded" || eng.loads != 1 {
		t.Fatalf("LoadImages = %+v (%d loads)", got, eng.loads)
	}
	// A tag that points at another image is replaced by the bundle's.
	eng.images["labsbx.local/vault:1.21.0"] = "sha256:other"
	if got, err = b.LoadImages(ctx, eng, testContents.Images[1:]); err != nil || got[0].Action != "loaded" {
		t.Fatalf("LoadImages over another image = %+v, %v", got, err)
	}

	// A damaged archive is refused before the engine sees it.
	p := filepath.Join(dir, filepath.FromSlash(b.Manifest.Images[1].File))
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p, bytes.Replace(data, []byte("1.21.0"), []byte("6.66.6"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := newFakeEngine(map[string]string{})
	_, err = b.LoadImages(ctx, empty, testContents.Images[1:])
	if err == nil || !strings.Contains(err.Error(), "damaged") || empty.loads != 0 {
		t.Fatalf("damaged archive: err %v, %d loads", err, empty.loads)
	}
	if err := b.Verify(); err == nil {
		t.Fatal("Verify passed a damaged bundle")
	}

	// Another image store gives the loaded image another ID, with the same layers.
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	other := newFakeEngine(map[string]string{})
	other.otherStore = true
	if got, err := b.LoadImages(ctx, other, testContents.Images[1:]); err != nil || got[0].Action != "loaded" {
		t.Fatalf("load into another image store = %+v, %v", got, err)
	}
	if got, err := b.LoadImages(ctx, other, testContents.Images[1:]); err != nil || got[0].Action != "present" {
		t.Fatalf("second load into another image store = %+v, %v", got, err)
	}

	// An archive whose load gives another image ID and other layers is reported.
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b.Manifest.Images[1].ID, b.Manifest.Images[1].Layers = "sha256:expected", []string{"layer-of-expected"}
	if _, err := b.LoadImages(ctx, empty, testContents.Images[1:]); err == nil || !strings.Contains(err.Error(), "did not give image") {
		t.Fatalf("load with another ID: %v", err)
	}
}

// TestSavePullsUpstreamChartsFromARepository serves a Helm repository (index.yaml and
// a chart archive) over HTTP, as a mirror given with --chart-repo would.
func TestSavePullsUpstreamChartsFromARepository(t *testing.T) {
	repoDir := t.TempDir()
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: charts.Vault, Version: charts.VaultChartVersion}}
	archive, err := chartutil.Save(ch, repoDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	defer srv.Close()
	idx, err := repo.IndexDirectory(repoDir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(repoDir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HELM_CACHE_HOME", t.TempDir())
	t.Setenv("HELM_CONFIG_HOME", t.TempDir())

	c := Contents{Profile: "full", Charts: []charts.Ref{{Name: charts.Vault, Version: charts.VaultChartVersion, Repo: charts.HashiCorpRepo}}}
	dir := t.TempDir()
	m, err := Save(context.Background(), testEngine(), SaveOptions{Dir: approveDir(t, dir), Contents: c, ChartRepo: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if m.Charts[0].Source != srv.URL {
		t.Errorf("source = %q, want the mirror", m.Charts[0].Source)
	}
	want, _ := os.ReadFile(archive)
	got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.Charts[0].File)))
	if !bytes.Equal(got, want) {
		t.Error("the bundled chart is not the repository's archive")
	}

	// A version the repository does not have fails and says what to do.
	c.Charts[0].Version = "0.0.1"
	_, err = Save(context.Background(), testEngine(), SaveOptions{Dir: approveDir(t, t.TempDir()), Contents: c, ChartRepo: srv.URL})
	if err == nil || !strings.Contains(err.Error(), "--chart-repo") {
		t.Fatalf("missing chart version: %v", err)
	}
}

func TestManifestJSONHasNoSurprises(t *testing.T) {
	m := save(t, testEngine(), t.TempDir(), testContents)
	b, _ := json.Marshal(m)
	for _, k := range []string{`"format":1`, `"profile":"vault"`, `"sha256":`, `"id":"sha256:`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("manifest JSON lacks %s: %s", k, b)
		}
	}
}

// TestChartRepoCredentialsStayOut: a mirror URL with credentials is recorded, and
// reported, without them.
func TestChartRepoCredentialsStayOut(t *testing.T) {
	const mirror = "https://ci:s3cr3t-token@mirror.invalid/helm"
	c := Contents{Profile: "full", Charts: []charts.Ref{{Name: charts.Vault, Version: charts.VaultChartVersion, Repo: charts.HashiCorpRepo}}}
	if got := chartSource(c.Charts[0], mirror); got != "https://mirror.invalid/helm" {
		t.Errorf("source = %q", got)
	}
	t.Setenv("HELM_CACHE_HOME", t.TempDir())
	t.Setenv("HELM_CONFIG_HOME", t.TempDir())
	_, err := Save(context.Background(), testEngine(), SaveOptions{Dir: approveDir(t, t.TempDir()), Contents: c, ChartRepo: mirror})
	if err == nil || strings.Contains(err.Error(), "s3cr3t-token") {
		t.Fatalf("save from an unreachable mirror: %v", err)
	}
}

// approveDir asks the guard for a bundle directory, as `bundle save` does.
func approveDir(t *testing.T, dir string) guard.DirApproval {
	t.Helper()
	d, err := guard.ApproveDir(dir, DirFormat, guard.WriteScope{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// --chart-repo may be a directory of chart archives: the chart is taken from it only
// when it is that chart at that version.
func TestFetchChartFromDirectory(t *testing.T) {
	ch, err := charts.Load(charts.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := chartutil.Save(ch, dir); err != nil {
		t.Fatal(err)
	}
	ref := charts.Ref{Name: charts.Postgres, Version: ch.Metadata.Version, Repo: "https://unreachable.invalid"}
	for _, mirror := range []string{dir, "file://" + dir} {
		p, err := FetchChart(ref, mirror, t.TempDir())
		if err != nil || filepath.Base(p) != charts.Postgres+"-"+ch.Metadata.Version+".tgz" {
			t.Errorf("FetchChart from %s = %q, %v", mirror, p, err)
		}
	}
	// A file of that name that is another version, and a missing one.
	if err := os.Rename(filepath.Join(dir, charts.Postgres+"-"+ch.Metadata.Version+".tgz"), filepath.Join(dir, charts.Postgres+"-9.9.9.tgz")); err != nil {
		t.Fatal(err)
	}
	if _, err := FetchChart(charts.Ref{Name: charts.Postgres, Version: "9.9.9", Repo: "x"}, dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not postgres 9.9.9") {
		t.Errorf("a mislabelled archive = %v", err)
	}
	if _, err := FetchChart(ref, dir, t.TempDir()); err == nil {
		t.Error("a missing archive was found")
	}
	if d, ok := LocalChartDir("https://mirror.example/helm"); ok {
		t.Errorf("an https repository is a local directory %q", d)
	}
}
