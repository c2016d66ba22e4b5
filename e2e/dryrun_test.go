package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// TestE2EUpDryRun: `up --dry-run` prints the plan of both profiles and touches
// nothing: the Docker host points nowhere, and the state root stays empty.
func TestE2EUpDryRun(t *testing.T) {
	c := newCLI(t)
	c.env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"

	r := c.ok("up", "--dry-run", "--name", "plan")
	for _, want := range []string{"profile vault", "network labsbx-plan", "Bootstrapping the Vault layout"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("vault plan lacks %q:\n%s", want, r.stdout)
		}
	}
	var plan struct {
		Profile   string `json:"profile"`
		Available bool   `json:"available"`
		Cluster   struct {
			Name    string `json:"name"`
			Context string `json:"context"`
		} `json:"cluster"`
		Charts []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"charts"`
		Releases []struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"releases"`
		Steps []string `json:"steps"`
	}
	c.json(&plan, "up", "--dry-run", "--profile", "full", "--name", "plan")
	if plan.Profile != "full" || !plan.Available || plan.Cluster.Name != "labsbx-plan" || plan.Cluster.Context != "k3d-labsbx-plan" {
		t.Errorf("full plan: %+v", plan)
	}
	if len(plan.Charts) != 4 || len(plan.Releases) != 4 || len(plan.Steps) == 0 {
		t.Errorf("full plan: %d charts, %d releases, %d steps", len(plan.Charts), len(plan.Releases), len(plan.Steps))
	}
	for _, ch := range plan.Charts {
		if ch.Version == "" {
			t.Errorf("chart %s without a pinned version", ch.Name)
		}
	}
	entries, err := os.ReadDir(c.home)
	if err != nil || len(entries) != 0 {
		t.Errorf("the dry runs wrote into the state root: %v %v", entries, err)
	}

}

// TestE2EFullProfileWithoutImages: up --profile full stops at the images step when an
// image can be neither found nor pulled (here a k3s image under a registry name that
// resolves nowhere), says how to go on without network, and down cleans up after it.
func TestE2EFullProfileWithoutImages(t *testing.T) {
	testenv.RequireDocker(t)
	c := newCLI(t)
	cfg := filepath.Join(t.TempDir(), "labsbx.yaml")
	const absent = "labsbx.invalid/absent-k3s:none"
	err := os.WriteFile(cfg, []byte(`apiVersion: labsbx.dev/v1alpha1
kind: Sandbox
spec:
  profile: full
  cluster:
    k3sImage: `+absent+"\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	r := c.run("up", "--config", cfg, "--name", "noimg")
	if r.code != 1 || !strings.Contains(r.stderr, absent) || !strings.Contains(r.stderr, "--bundle") {
		t.Errorf("up --profile full without images: exit %d, stderr %s", r.code, r.stderr)
	}
	c.ok("down", "--name", "noimg")
	assertNoLabelled(t, "noimg")
}
