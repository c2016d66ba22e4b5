package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/internal/goldenfile"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
)

// TestPlanGolden: the dry-run plan of each profile, as text and JSON, for the
// embedded default (vault profile) and for testdata/plan/*.yaml. Building a plan
// must touch nothing: DOCKER_HOST points nowhere and the state dir does not exist.
func TestPlanGolden(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("K3D_HELPER_IMAGE_TAG", "")
	stateDir := filepath.Join(t.TempDir(), "does-not-exist")
	cases := map[string][]byte{"default": config.Default()}
	files, err := filepath.Glob("testdata/plan/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no plan fixtures: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[strings.TrimSuffix(filepath.Base(f), ".yaml")] = b
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse(name, doc, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(PlanOptions{Name: "demo", Spec: cfg.Spec, StateDir: "/state/labsbx/demo"})
			if err != nil {
				t.Fatal(err)
			}
			goldenfile.Assert(t, "plan/"+name+".txt.golden", []byte(p.Text()))
			j, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			goldenfile.Assert(t, "plan/"+name+".json.golden", append(j, '\n'))
		})
	}
	// The goldens name a fixed state dir; a plan for a real (absent) one creates nothing.
	if _, err := NewPlan(PlanOptions{Name: "demo", Spec: config.DefaultSpec(), StateDir: stateDir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("a plan created %s", stateDir)
	}
}

// TestPlanSystemImages: k3s's own images, when listed, are part of the plan's images
// (and so of bundles and of the import into the nodes).
func TestPlanSystemImages(t *testing.T) {
	spec := config.DefaultSpec()
	spec.Profile = config.ProfileFull
	spec.Cluster.SystemImages = []string{"rancher/mirrored-pause:3.6", "rancher/local-path-provisioner:v0.0.31"}
	p, err := NewPlan(PlanOptions{Name: "demo", Spec: spec, StateDir: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range p.Images {
		if img.Component == "k3s-system" {
			got = append(got, img.Ref)
		}
	}
	if strings.Join(got, " ") != "rancher/mirrored-pause:3.6 rancher/local-path-provisioner:v0.0.31" {
		t.Errorf("system images in the plan: %v", got)
	}
}

// TestPlanFull checks what the full plan promises, beyond the golden files.
func TestPlanFull(t *testing.T) {
	spec := config.DefaultSpec()
	spec.Profile = config.ProfileFull
	spec.Apps = []string{"webapp", "billing", "crm"}
	p, err := NewPlan(PlanOptions{Name: "demo", Spec: spec, StateDir: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Available || !strings.Contains(p.Note, "--bundle") {
		t.Errorf("full plan: available %v, note %q", p.Available, p.Note)
	}
	var rel []string
	for _, r := range p.Releases {
		rel = append(rel, r.Namespace+"/"+r.Name)
		if r.Chart.Version == "" {
			t.Errorf("release %s has no pinned chart version", r.Name)
		}
	}
	want := "postgres/postgres vault/vault vault-secrets-operator/vault-secrets-operator webapp/webapp billing/billing crm/crm"
	if got := strings.Join(rel, " "); got != want {
		t.Errorf("releases %s, want %s", got, want)
	}
	order := func(s string) int {
		for i, st := range p.Steps {
			if strings.Contains(st, s) {
				return i
			}
		}
		t.Fatalf("no step mentions %q", s)
		return -1
	}
	if !(order("Creating k3d cluster") < order("writing marker") &&
		order("writing marker") < order("release postgres/postgres") &&
		order("release postgres/postgres") < order("release vault/vault") &&
		order("release vault/vault") < order("Initialising and unsealing Vault") &&
		order("Bootstrapping") < order("release vault-secrets-operator/") &&
		order("release vault-secrets-operator/") < order("release webapp/webapp")) {
		t.Errorf("steps out of order:\n%s", strings.Join(p.Steps, "\n"))
	}
	// No value of any release holds a password.
	j, _ := json.Marshal(p)
	for _, bad := range []string{"password\":", "Password"} {
		if strings.Contains(string(j), bad) {
			t.Errorf("the plan mentions %q", bad)
		}
	}
}

func TestPlanRejects(t *testing.T) {
	spec := config.DefaultSpec()
	if _, err := NewPlan(PlanOptions{Name: "Bad_Name", Spec: spec}); err == nil {
		t.Error("a bad sandbox name was planned")
	}
	spec.Profile = "other"
	if _, err := NewPlan(PlanOptions{Name: "demo", Spec: spec}); err == nil {
		t.Error("an unknown profile was planned")
	}
}

// TestPlanUp: the plan takes --profile and --vms as Up does, and places the state dir
// under the same root, without creating it.
func TestPlanUp(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	getenv := func(k string) string {
		if k == state.EnvHome {
			return root
		}
		return ""
	}
	cfg, err := config.Parse("default", config.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 2
	p, err := PlanUp(getenv, UpOptions{Name: "demo", Config: cfg, Profile: config.ProfileFull, VMs: &n})
	if err != nil {
		t.Fatal(err)
	}
	if p.Profile != config.ProfileFull || p.StateDir != filepath.Join(root, "demo") || !strings.Contains(strings.Join(p.Steps, "\n"), "Starting 2 arm64 VMs") {
		t.Errorf("plan %s, state %s, steps %v", p.Profile, p.StateDir, p.Steps)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("PlanUp created the state root: %v", err)
	}
	n = -1
	if _, err := PlanUp(getenv, UpOptions{Name: "demo", Config: cfg, VMs: &n}); err == nil {
		t.Error("--vms -1 was planned")
	}
}
