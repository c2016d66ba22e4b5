package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios/report"
)

// The full profile's own steps of runSandboxLifecycle. They run only where the full
// profile can (`go tool task e2e:full`): they need a real k3d cluster, VSO and pods.
// Each says what VSO v0.10.0 and k3d v5.8.3 were seen to do, and checks the sandbox
// expects and reports exactly that.

// fullApps are the apps of the config e2e/toolchain/full.sh writes.
var fullApps = []string{"webapp", "billing"}

// fullProfileEnv returns the bundle and config of `go tool task e2e:full`, which builds
// them (e2e/toolchain/full.sh bundle) and runs this test on a private Docker engine of
// its own (e2e/toolchain/engine.sh). Without them the test is skipped, and under
// CI=true it fails: CI runs every tier. That engine reports the host engine's ID, so
// the test proves it is the private one by its socket and its data root.
func fullProfileEnv(t *testing.T) (bundle, cfg string) {
	t.Helper()
	bundle, cfg = os.Getenv("LABSBX_E2E_FULL_BUNDLE"), os.Getenv("LABSBX_E2E_FULL_CONFIG")
	engine := os.Getenv("LABSBX_PRIVATE_ENGINE")
	if bundle == "" || cfg == "" || engine == "" {
		msg := "full profile: run `go tool task e2e:full`, which builds its images and bundle (e2e/toolchain/full.sh) and runs this test on a private engine (e2e/toolchain/engine.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if want := "unix://" + filepath.Join(engine, "docker.sock"); os.Getenv("DOCKER_HOST") != want {
		t.Fatalf("DOCKER_HOST is %q, not the private engine's %s", os.Getenv("DOCKER_HOST"), want)
	}
	out, err := exec.Command("docker", "info", "--format", "{{.DockerRootDir}}").Output()
	if err != nil || strings.TrimSpace(string(out)) != filepath.Join(engine, "data") {
		t.Fatalf("the engine on DOCKER_HOST has data root %q (%v), not the private engine's %s", strings.TrimSpace(string(out)), err, filepath.Join(engine, "data"))
	}
	return bundle, cfg
}

// appsHealthyDrill: Vault sealed and unsealed again, with VSO's Secrets and both apps
// (billing is the second) healthy before and after, and both apps' credentials
// working. A sealed Vault revokes nothing, so the apps stay as they were.
const appsHealthyDrill = `apiVersion: labsbx.dev/v1alpha1
kind: Drill
metadata:
  name: seal-apps-healthy
  description: Vault is sealed; once it is unsealed, VSO's Secrets and every app are healthy
spec:
  steady:
    - apps: healthy
    - connects: billing
  fault:
    builtin: seal
  symptom:
    - vault: sealed
    - creds: billing
      expect: fail
  recovery:
    builtin: true
  verify:
    - vault: unsealed
    - apps: healthy
      timeout: 90s
    - connects: billing
    - connects: webapp
`

// runFullDrillFiles: the example drill files, written for the lab's runbooks, and one
// with apps: healthy probes, on real pods.
func runFullDrillFiles(t *testing.T, c *cli, name string) {
	t.Helper()
	healthy := filepath.Join(t.TempDir(), "seal-apps-healthy.yaml")
	if err := os.WriteFile(healthy, []byte(appsHealthyDrill), 0o644); err != nil {
		t.Fatal(err)
	}
	reports := filepath.Join(t.TempDir(), "files")
	var rep report.Report
	c.json(&rep, "drill", "run", "-f", example("unseal-runbook.yaml"), "-f", example("lost-lease-reread.yaml"),
		"-f", example("broken-grant-sql.yaml"), "-f", healthy, "--name", name, "--report-dir", reports)
	checkReports(t, reports, 4, 0)
	for _, s := range rep.Scenarios {
		t.Logf("drill file %-28s %s detect %5d ms  recover %5d ms", s.Name, s.Result, s.TimeToDetectMs, s.TimeToRecoverMs)
	}
}

// checkKubeconfigMerge: the sandbox's context merged into a scratch kubeconfig.
func checkKubeconfigMerge(t *testing.T, c *cli, name string) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "config")
	c.ok("kubeconfig", "merge", "--name", name, "--kubeconfig", target)
	cfg, err := clientcmd.LoadFromFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Contexts["k3d-labsbx-"+name]; !ok {
		t.Errorf("kubeconfig merge: no context k3d-labsbx-%s in %v", name, cfg.Contexts)
	}
}

// checkOtherEngineRefused: the host's engine reports the same engine ID as the private
// one that holds the sandbox. Pointed at it, labsbx refuses (exit 3) and sends nothing.
func checkOtherEngineRefused(t *testing.T, c *cli, name string) {
	t.Helper()
	host := &cli{t: t, home: c.home, bin: c.bin, env: maps.Clone(c.env)}
	host.env["DOCKER_HOST"] = "unix:///var/run/docker.sock"
	r := host.run("vault", "status", "--name", name)
	if r.code != 3 || !strings.Contains(r.stderr, "not the one sandbox") {
		t.Errorf("vault status through the host's engine: exit %d, want 3 (another engine)\n%s", r.code, r.stderr)
	}
}

// fullKube is the test's own view of the sandbox cluster, from the kubeconfig `labsbx
// env` names (not through the guard: the test only looks).
func fullKube(t *testing.T, env map[string]string) (*kubernetes.Clientset, dynamic.Interface) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env["KUBECONFIG"])
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", env["KUBECONFIG"], err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, dyn
}

// checkFullUp: what up leaves for each app.
//   - VSO syncs twice on creation: its first reconcile is an InitialSync (Event
//     SecretSynced), and a second sync follows within about 40 ms (SecretRotated):
//     two leases, and two rollout-restarts, which VSO's recorder merges into one
//     RolloutRestartTriggered Event with count 2.
//   - VSO does not revoke the lease it replaced: until that lease's TTL (1m by
//     default) Postgres holds two v-…-<app>-… users, then one.
//   - The VaultDynamicSecret does not ask for revocation (revoke: false).
func checkFullUp(t *testing.T, env map[string]string, apps []string) {
	t.Helper()
	ctx := context.Background()
	cs, dyn := fullKube(t, env)
	pg, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable",
		env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGPASSWORD"], env["PGDATABASE"]))
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer pg.Close(ctx)
	for _, app := range apps {
		vds, err := dyn.Resource(vso.VaultDynamicSecrets).Namespace(app).Get(ctx, vso.DynamicSecretName(app), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if revoke, _, _ := unstructured.NestedBool(vds.Object, "spec", "revoke"); revoke {
			t.Errorf("app %s: the VaultDynamicSecret asks for revocation", app)
		}
		events := vdsEvents(t, cs, app)
		synced, rotated, restart := find(events, vso.ReasonSecretSynced), find(events, vso.ReasonSecretRotated), find(events, vso.ReasonRolloutRestartTriggered)
		if synced == nil || !strings.Contains(synced.Message, `sync_reason="InitialSync"`) || rotated == nil || restart == nil {
			t.Errorf("app %s: want SecretSynced (InitialSync), SecretRotated and RolloutRestartTriggered after up; got %s", app, describe(events))
		} else {
			if d := rotated.FirstTimestamp.Sub(synced.FirstTimestamp.Time); d < 0 || d > 2*time.Second {
				t.Errorf("app %s: the second sync came %v after the first; VSO v0.10.0 follows within milliseconds", app, d)
			}
			if restart.Count != 2 {
				t.Errorf("app %s: RolloutRestartTriggered count %d, want 2 (one per creation sync)", app, restart.Count)
			}
		}
		var users int
		if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolcanlogin AND rolname LIKE 'v-%' AND rolname LIKE '%-' || $1 || '-%'`, app).Scan(&users); err != nil {
			t.Fatal(err)
		}
		t.Logf("app %s: %d dynamic Postgres users after up (2 until the replaced lease's TTL, then 1)", app, users)
		if users < 1 || users > 2 {
			t.Errorf("app %s: %d dynamic Postgres users, want 2 (VSO's replaced lease lives to its TTL) or 1 after it", app, users)
		}
	}
}

func vdsEvents(t *testing.T, cs *kubernetes.Clientset, app string) []corev1.Event {
	t.Helper()
	list, err := cs.CoreV1().Events(app).List(context.Background(), metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.kind": "VaultDynamicSecret", "involvedObject.name": vso.DynamicSecretName(app)}.AsSelector().String()})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func find(events []corev1.Event, reason string) *corev1.Event {
	for i := range events {
		if events[i].Reason == reason {
			return &events[i]
		}
	}
	return nil
}

func describe(events []corev1.Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "\n  %s %s ×%d %s–%s: %s", e.Type, e.Reason, e.Count, e.FirstTimestamp.Format(time.TimeOnly), e.LastTimestamp.Format(time.TimeOnly), e.Message)
	}
	return b.String()
}

// checkFullDrills: what the drills report on the full profile.
//   - full-restart: k3d's stop is a power cycle; VSO comes back with the cluster,
//     fails to log in while Vault is sealed (VaultClientConfigError), logs in afresh
//     after the unseal and rotates every app (sync_reason="VaultTokenRotated"), about
//     10 s after the unseal. The report has "vso logged in again", "vso synced" and
//     "apps ready" in that order, and the rotation per app.
//   - lost-lease: VSO notices the revoked lease only in its renewal window (measured
//     17 and 33 s after the fault with 60 s leases) and records no warning: the only
//     trace is SecretRotated with sync_reason="SecretLeaseRenewalError".
//   - broken-rotation/grant: renewing fails too without CREATEROLE.
func checkFullDrills(t *testing.T, rep report.Report) {
	t.Helper()
	for _, s := range rep.Scenarios {
		var names []string
		at := map[string]int64{}
		for _, m := range s.Milestones {
			names = append(names, m.Name)
			if _, ok := at[m.Name]; !ok {
				at[m.Name] = m.OffsetMs
			}
		}
		has := func(sub string) bool {
			return slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, sub) })
		}
		switch s.Name {
		case "full-restart":
			for _, want := range []string{"vso logged in again", "vso synced", "apps ready", "VSO SecretRotated (sync_reason=VaultTokenRotated)"} {
				if !has(want) {
					t.Errorf("full-restart: no milestone %q in %v", want, names)
				}
			}
			if !strings.Contains(s.Description, "new credentials") {
				t.Errorf("full-restart: the report does not say the apps rotate: %q", s.Description)
			}
			t.Logf("full-restart: unsealed at %d ms, VSO logged in at %d ms, synced at %d ms, apps ready at %d ms",
				at["vault unsealed"], at["vso logged in again"], at["vso synced"], at["apps ready"])
		case "lost-lease":
			if !has("VSO SecretRotated (sync_reason=SecretLeaseRenewalError)") || has("VSO SecretLeaseRenewalError") {
				t.Errorf("lost-lease: want a rotation for SecretLeaseRenewalError and no renewal-error Event; milestones %v", names)
			}
		case "broken-rotation/grant":
			if !has("renewing the existing lease fails too") {
				t.Errorf("broken-rotation/grant: milestones %v", names)
			}
		}
	}
}

// checkVaultRolls: a new Vault image, and up replaces Vault's pod (the chart's default,
// OnDelete, would leave the old one running), then unseals the new one, which started
// sealed. The image is the same build under another name, as a user who changes
// spec.vault.image gets a new pod template.
func checkVaultRolls(t *testing.T, c *cli, env map[string]string, name, image string, upArgs []string) {
	t.Helper()
	ctx := context.Background()
	cs, _ := fullKube(t, env)
	before, err := cs.CoreV1().Pods("vault").Get(ctx, "vault-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renamed := "labsbx.local/vault-roll:e2e"
	if out, err := exec.Command("docker", "tag", image, renamed).CombinedOutput(); err != nil {
		t.Fatalf("docker tag: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", renamed).Run() })
	c.env["LABSBX_VAULT_IMAGE"] = renamed
	defer delete(c.env, "LABSBX_VAULT_IMAGE")
	var up upResult
	// Not from the bundle, which does not hold the new name: the engine has it.
	args := []string{"up", "--profile", "full", "--name", name}
	for i := 0; i < len(upArgs); i++ {
		if upArgs[i] == "--bundle" {
			i++
			continue
		}
		args = append(args, upArgs[i])
	}
	c.json(&up, args...)
	if !slices.ContainsFunc(up.Changes, func(s string) bool { return strings.HasPrefix(s, "release vault/vault upgraded") }) ||
		!slices.Contains(up.Changes, "unsealed Vault") {
		t.Errorf("up with a new Vault image: changes %v; want the release upgraded and the new pod unsealed", up.Changes)
	}
	after, err := cs.CoreV1().Pods("vault").Get(ctx, "vault-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID == before.UID || after.Spec.Containers[0].Image != renamed {
		t.Errorf("vault-0 after up: uid %s (was %s), image %s; want a new pod on %s", after.UID, before.UID, after.Spec.Containers[0].Image, renamed)
	}
	if r := c.ok("vault", "status", "--name", name); !strings.Contains(r.stdout, "Sealed:       false") {
		t.Errorf("vault status after the roll:\n%s", r.stdout)
	}
}

// checkVaultUpgradesFull rehearses the vault-upgrade change on the full profile: the
// Vault release is upgraded with the newer image and its pod rolls on the same claim.
// Left unfinished (--no-recover), drill recover restores the pre-change backup onto
// the old image; run to the end, every piece of evidence survives, a Kubernetes login
// included, and Vault answers at the new version.
func checkVaultUpgradesFull(t *testing.T, c *cli, name string, secrets map[string]string) {
	t.Helper()
	to := testenv.VaultToImage
	// The private engine holds what the bundle held; the newer Vault comes from the
	// host's engine, where `go tool task upgradeimage` built it.
	if err := exec.Command("docker", "-H", "unix:///var/run/docker.sock", "image", "inspect", to).Run(); err != nil {
		testenv.Require(t, "Docker image "+to+" in the host's engine (the Vault the upgrade goes to)", "go tool task upgradeimage")
	}
	copyImage := exec.Command("sh", "-c", `docker -H unix:///var/run/docker.sock save "$1" | docker load`, "sh", to)
	if out, err := copyImage.CombinedOutput(); err != nil {
		t.Fatalf("copy %s into the private engine: %v\n%s", to, err, out)
	}
	from := loadState(t, c, name).Spec.Vault.Image

	// Left unfinished: the new Vault is sealed; drill recover rolls back.
	if r := c.run("drill", "run", "vault-upgrade", "--to", to, "--no-recover", "--name", name); r.code != 4 {
		t.Fatalf("vault-upgrade --no-recover: exit %d, want 4\n%s", r.code, r.stderr)
	}
	if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "restored the pre-change backup") {
		t.Errorf("drill recover did not roll back:\n%s", r.stdout)
	}
	if st := loadState(t, c, name); st.Spec.Vault.Image != from || st.Vault.Version != testenv.VaultVersion || len(st.Faults) != 0 {
		t.Errorf("after the rollback: image %s (want %s), version %s, faults %v", st.Spec.Vault.Image, from, st.Vault.Version, st.Faults)
	}
	vaultVersion(t, c, name, testenv.VaultVersion)

	reports := filepath.Join(t.TempDir(), "upgrade")
	var rep report.Report
	c.json(&rep, "drill", "run", "vault-upgrade", "--to", to, "--name", name, "--report-dir", reports)
	checkReports(t, reports, 1, 0)
	s := rep.Scenarios[0]
	ch := s.Change
	if ch == nil || ch.FromVersion != testenv.VaultVersion || ch.ToVersion != testenv.VaultToVersion || ch.UnavailableMs <= 0 {
		t.Fatalf("vault-upgrade on the full profile: %+v", ch)
	}
	t.Logf("vault-upgrade (full) %s -> %s: unavailable %d ms, time to recover %d ms, total %d ms",
		ch.FromVersion, ch.ToVersion, ch.UnavailableMs, s.TimeToRecoverMs, s.TotalMs)
	kube := false
	for _, ev := range ch.Evidence {
		kube = kube || strings.HasPrefix(ev.Name, "Kubernetes login")
		if !ev.Survived {
			t.Errorf("evidence lost: %s: %s", ev.Name, ev.Detail)
		}
	}
	if !kube {
		t.Errorf("no Kubernetes login in the evidence: %+v", ch.Evidence)
	}
	vaultVersion(t, c, name, testenv.VaultToVersion)
	// No secret in the reports (the lifecycle checks every command's output at its end).
	for label, s := range secrets {
		if isSecret(label, s) {
			scanDir(t, reports, label, s)
		}
	}
}
