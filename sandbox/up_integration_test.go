package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/sandboxtest"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/vmimages"
)

// cancelAt cancels a context when the named step starts: an interrupted up.
type cancelAt struct {
	step   string
	cancel context.CancelFunc
}

func (c cancelAt) Step(msg string, fn func() error) error {
	if strings.HasPrefix(msg, c.step) {
		c.cancel()
		return context.Canceled
	}
	return fn()
}
func (cancelAt) Infof(string, ...any) {}

func TestIntegrationUpVaultProfile(t *testing.T) {
	const name = "it-up"
	conf, cfg := sandboxtest.New(t, name, "webapp", "billing")
	ctx := context.Background()

	// Interrupt the first up as Vault is about to start, as Ctrl-C would.
	ictx, cancel := context.WithCancel(ctx)
	conf.Progress = cancelAt{step: "Starting Vault", cancel: cancel}
	_, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ictx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted up: %v", err)
	}
	st, err := conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != state.PhaseCreating || st.Docker == nil || st.Docker.PostgresPort == 0 || st.Vault != nil {
		t.Fatalf("state after interruption: phase %s, docker %+v, vault %+v", st.Phase, st.Docker, st.Vault)
	}

	conf.Progress = nil
	res, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
	if err != nil {
		t.Fatalf("resumed up: %v", err)
	}
	if !res.Resumed || len(res.Changes) == 0 {
		t.Errorf("resumed up: resumed %t, changes %v", res.Resumed, res.Changes)
	}
	st, err = conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != state.PhaseReady || st.Vault == nil || st.Vault.ClusterID == "" {
		t.Fatalf("state after up: %+v", st)
	}
	// Secrets stay in the state dir with mode 0600.
	for _, f := range []string{"vault-keys.json", "postgres.json", "ci-signing-key.pem"} {
		fi, err := os.Stat(filepath.Join(st.Dir(), state.SecretsDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, fi.Mode().Perm())
		}
	}
	sess, err := connect.New(st, conf.Getenv).Vault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := sess.Status(ctx)
	if err != nil || vs.Sealed || !vs.Initialized || vs.ClusterID != st.Vault.ClusterID {
		t.Fatalf("vault status %+v, %v", vs, err)
	}
	mounts, err := sess.Root().Sys().ListMountsWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"kvv2/", "kv/", "transit/", "postgres/"} {
		if _, ok := mounts[m]; !ok {
			t.Errorf("mount %s missing", m)
		}
	}
	if s, err := sess.Root().Logical().ReadWithContext(ctx, vault.CredsPath("billing")); err != nil || s == nil {
		t.Errorf("billing credentials: %v", err)
	}

	// A second up converges without a change.
	t0 := time.Now()
	res, err = sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 0 {
		t.Errorf("second up changed: %v", res.Changes)
	}
	t.Logf("second up took %s", time.Since(t0))

	// A drill interrupted with Vault sealed: the next up unseals it and says so.
	if err := sess.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = conf.Store.Load(name)
	st.Faults = append(st.Faults, state.Fault{Scenario: "seal", Kind: "seal", InjectedAt: time.Now()})
	if err := conf.Store.Save(st, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err = sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Changes, "; "); !strings.Contains(got, "unsealed Vault") || !strings.Contains(got, "undid the fault of interrupted drill seal") {
		t.Errorf("up after an interrupted drill: %s", got)
	}
	if st, _ = conf.Store.Load(name); len(st.Faults) != 0 {
		t.Errorf("faults left after up: %v", st.Faults)
	}

	// The bootstrap alone also finds nothing to do.
	b := sandbox.NewVaultBootstrap(conf)
	b.Name = name
	if boot, err := b.Run(ctx); err != nil || len(boot.Changes) != 0 {
		t.Errorf("bootstrap after up: %+v, %v", boot, err)
	}

	// Down removes everything labelled, and a second down is harmless.
	down, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: name}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(down.Removed.Containers) != 2 || len(down.Removed.Volumes) != 2 || len(down.Removed.Networks) != 1 || !down.StateRemoved {
		t.Errorf("down removed %+v", down)
	}
	conn := connect.New(st, conf.Getenv)
	defer conn.Close()
	rt, err := conn.Docker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := rt.Leftovers(ctx); err != nil || len(left) != 0 {
		t.Errorf("leftovers after down: %v, %v", left, err)
	}
	if _, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: name}).Run(ctx); err != nil {
		t.Errorf("second down: %v", err)
	}
}

// TestIntegrationUpPostgresTemplate: the first up with an image makes Postgres's data
// template in the cache (no secret of the sandbox in it); an up stopped after the
// volume was filled from it but before the superuser had the sandbox's password
// starts that volume afresh, and the sandbox's password is the one that works.
func TestIntegrationUpPostgresTemplate(t *testing.T) {
	const name = "it-pgtmpl"
	conf, cfg := sandboxtest.New(t, name, "webapp")
	cache := t.TempDir()
	getenv := conf.Getenv
	conf.Getenv = func(k string) string {
		if k == vmimages.EnvCacheDir {
			return cache
		}
		return getenv(k)
	}
	ctx := context.Background()
	ictx, cancel := context.WithCancel(ctx)
	conf.Progress = cancelAt{step: "Waiting for Postgres", cancel: cancel}
	res, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ictx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted up: %v", err)
	}
	if !slices.ContainsFunc(res.Changes, func(c string) bool { return strings.HasPrefix(c, "made the Postgres data template") }) {
		t.Errorf("first up with a new cache: changes %v", res.Changes)
	}
	tmpls, err := filepath.Glob(filepath.Join(cache, "postgres-template", "v1-*.tar"))
	if err != nil || len(tmpls) != 1 {
		t.Fatalf("templates in the cache: %v, %v", tmpls, err)
	}
	if fi, err := os.Stat(tmpls[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("template %s: %v, %v", tmpls[0], fi, err)
	}
	st, err := conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Docker.PostgresFromTemplate {
		t.Fatalf("state after an up stopped before the superuser's password: %+v", st.Docker)
	}
	sec, err := st.PostgresSecrets()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tmpls[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(sec.SuperuserPassword)) || bytes.Contains(data, []byte(sec.VaultAdminPassword)) {
		t.Error("the template holds a password of the sandbox")
	}

	conf.Progress = nil
	res, err = sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
	if err != nil {
		t.Fatalf("resumed up: %v", err)
	}
	if !slices.Contains(res.Changes, "created volume labsbx-"+name+"-postgres") {
		t.Errorf("resumed up did not start Postgres's volume afresh: %v", res.Changes)
	}
	st, err = conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Docker.PostgresFromTemplate {
		t.Error("the state still says the superuser lacks the sandbox's password")
	}
	admin, err := connect.New(st, conf.Getenv).PostgresAdmin(sec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := postgres.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("the superuser with the sandbox's password: %v", err)
	}
	defer c.Close(ctx)
	if ok, err := postgres.RoleExists(ctx, c, postgres.AppRole("webapp")); err != nil || !ok {
		t.Errorf("role %s: %v, %v", postgres.AppRole("webapp"), ok, err)
	}
	// The template stays, and a second up changes nothing.
	if again, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx); err != nil || len(again.Changes) != 0 {
		t.Errorf("second up: %v, %v", again.Changes, err)
	}
}

// BenchmarkUpVaultProfile measures `up --profile vault` from nothing to ready, and a
// second up on a ready sandbox, with the images present (targets: 15 s and 3 s).
func BenchmarkUpVaultProfile(b *testing.B) {
	const name = "bench-up"
	conf, cfg := sandboxtest.New(b, name)
	ctx := context.Background()
	var first, second time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx); err != nil {
			b.Fatal(err)
		}
		first += time.Since(t0)
		t0 = time.Now()
		if _, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx); err != nil {
			b.Fatal(err)
		}
		second += time.Since(t0)
		b.StopTimer()
		if _, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: name}).Run(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "s/up-cold")
	b.ReportMetric(second.Seconds()/float64(b.N), "s/up-again")
}

// TestIntegrationUpRecreatesOnNewImage: when the config names another image for a
// component, up replaces its container and keeps its volume: Postgres keeps its roles,
// and Vault its data and cluster, sealed by the restart and unsealed by up.
func TestIntegrationUpRecreatesOnNewImage(t *testing.T) {
	const name = "it-recreate"
	conf, cfg := sandboxtest.New(t, name, "webapp")
	ctx := context.Background()
	if _, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spec.Postgres.Image = derivedImage(t, cfg.Spec.Postgres.Image)
	cfg.Spec.Vault.Image = derivedImage(t, cfg.Spec.Vault.Image)
	res, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recreated := 0
	for _, c := range res.Changes {
		if strings.HasPrefix(c, "recreated container labsbx-"+name+"-") {
			recreated++
		}
	}
	if recreated != 2 {
		t.Fatalf("changes = %v, want both containers recreated", res.Changes)
	}
	after, err := conf.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if after.Vault.ContainerID == before.Vault.ContainerID || after.Vault.ClusterID != before.Vault.ClusterID {
		t.Errorf("vault container %s -> %s, cluster %s -> %s; want a new container on the same cluster",
			before.Vault.ContainerID, after.Vault.ContainerID, before.Vault.ClusterID, after.Vault.ClusterID)
	}
	// Converged: a third up changes nothing.
	again, err := sandbox.NewUp(conf, sandbox.UpOptions{Name: name, Config: cfg}).Run(ctx)
	if err != nil || len(again.Changes) != 0 {
		t.Fatalf("third up: %v, %v", again.Changes, err)
	}
	// Down before the derived images go, so that none is left in use.
	if _, err := sandbox.NewDown(conf, sandbox.DownOptions{Name: name}).Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// derivedImage commits a container of ref as a new image (another ID, same content)
// under a name of the test's own.
func derivedImage(t *testing.T, ref string) string {
	t.Helper()
	suffix := strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	out, err := exec.Command("docker", "create", ref).Output()
	if err != nil {
		t.Fatalf("docker create %s: %v", ref, err)
	}
	cid := strings.TrimSpace(string(out))
	defer func() { _ = exec.Command("docker", "rm", "-f", cid).Run() }()
	derived := strings.SplitN(ref, ":", 2)[0] + "-derived:" + suffix
	if out, err := exec.Command("docker", "commit", "--change", "LABEL dev.labsbx.test=derived", cid, derived).CombinedOutput(); err != nil {
		t.Fatalf("docker commit: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", derived).Run() })
	return derived
}
