package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/vmimages"
)

// Doctor checks, before anything fails halfway, what `up` with these options needs of
// this machine: the Docker engine (local, its storage driver), the images, disk space,
// the state root, free ports, and for VMs and the full profile their own tools. Each
// failed check names its fix (`labsbx doctor`); up runs the checks it needs first.
type Doctor struct {
	cfg *Configuration
	UpOptions
}

// NewDoctor prepares a doctor.
func NewDoctor(cfg *Configuration, opts UpOptions) *Doctor { return &Doctor{cfg: cfg, UpOptions: opts} }

// Check results.
const (
	CheckOK   = "ok"
	CheckWarn = "warn" // up can go on; something may be slow or need the network
	CheckFail = "fail" // up would fail
)

// Check is one line of the doctor's report.
type Check struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// DoctorReport is every check, and whether up can run.
type DoctorReport struct {
	Profile string  `json:"profile"`
	OK      bool    `json:"ok"`
	Checks  []Check `json:"checks"`
}

// ErrNotReady is returned when a check that up needs failed.
var ErrNotReady = errors.New("this machine is not ready for up")

// Minimum free disk space: the images and volumes of the vault profile, the VM image
// and overlays, the k3s images.
const (
	minFreeVault = 2 << 30
	minFreeVMs   = 8 << 30
	minFreeFull  = 10 << 30
)

// Run checks. The error is ErrNotReady, with every fix, when something up needs is
// missing.
func (d *Doctor) Run(ctx context.Context) (*DoctorReport, error) { return d.check(ctx, true) }

// preflight is the part of the checks up runs first: all but the images, which up's
// own step pulls or loads, saying which.
func (d *Doctor) preflight(ctx context.Context) (*DoctorReport, error) { return d.check(ctx, false) }

func (d *Doctor) check(ctx context.Context, images bool) (*DoctorReport, error) {
	spec, err := d.UpOptions.effectiveSpec()
	if err != nil {
		return nil, err
	}
	st, _ := d.cfg.Store.Load(d.Name) // nil: no sandbox yet (or none readable)
	spec = d.UpOptions.onSandbox(spec, st)
	rep := &DoctorReport{Profile: spec.Profile}
	add := func(c Check) { rep.Checks = append(rep.Checks, c) }
	appr, refused := guard.ApproveDocker(d.cfg.Getenv)
	rt, info := d.dockerChecks(ctx, appr, refused, add)
	if rt != nil {
		defer rt.Close()
		if images {
			d.imageChecks(ctx, rt, imagesInUse(spec, st, d.cfg.Getenv), add)
		}
	}
	d.diskCheck(spec, info, add)
	d.stateCheck(add)
	d.portCheck(add)
	if spec.VMs.Count > 0 {
		vmChecks(add)
	}
	rep.OK = true
	var fixes []string
	for _, c := range rep.Checks {
		if c.Result == CheckFail {
			rep.OK = false
			fixes = append(fixes, fmt.Sprintf("%s: %s; %s", c.Name, c.Detail, c.Fix))
		}
	}
	if refused != nil {
		// A Docker engine the guard refuses is a refusal (exit 3), not a missing tool.
		return rep, refused
	}
	if !rep.OK {
		return rep, fmt.Errorf("%w:\n  %s", ErrNotReady, strings.Join(fixes, "\n  "))
	}
	return rep, nil
}

// engineInfo is what the checks read of `docker info`.
type engineInfo struct {
	rootDir string
}

// dockerChecks reports the guard's decision on the engine (refused: the engine is
// not asked anything), then asks the approved engine who and what it is.
func (d *Doctor) dockerChecks(ctx context.Context, appr guard.DockerApproval, refused error, add func(Check)) (*docker.Runtime, engineInfo) {
	if refused != nil {
		add(Check{"docker engine is local", CheckFail, refused.Error(), "point DOCKER_HOST at a unix:// socket or a loopback tcp:// address"})
		return nil, engineInfo{}
	}
	add(Check{"docker engine is local", CheckOK, appr.Host(), ""})
	rt, err := d.cfg.docker(appr, d.Name, "")
	if err == nil {
		err = rt.Ping(ctx)
	}
	if err != nil {
		add(Check{"docker engine answers", CheckFail, err.Error(), "start it (sudo systemctl start docker, or as root `go tool task setup`)"})
		return nil, engineInfo{}
	}
	sum, err := rt.Summary(ctx)
	if err != nil {
		add(Check{"docker engine answers", CheckFail, err.Error(), "check that your user may use the Docker socket"})
		_ = rt.Close()
		return nil, engineInfo{}
	}
	add(Check{"docker engine answers", CheckOK, fmt.Sprintf("Docker %s (API %s), engine ID %s", sum.Version, sum.APIVersion, sum.ID), ""})
	driver := Check{"docker storage driver", CheckOK, sum.Driver, ""}
	if sum.DriverType == "io.containerd.snapshotter.v1" {
		driver.Result, driver.Detail = CheckWarn, sum.Driver+" (the containerd image store)"
		driver.Fix = "fine for the vault profile; the full profile imports images into k3d node by node, which is slower"
	}
	add(driver)
	return rt, engineInfo{rootDir: sum.RootDir}
}

// imagesInUse is spec with the Vault and Postgres images a sandbox that exists runs
// on: what its state records, unless the environment names others. `go tool task up`
// may have chosen local images (labsbx.local/...) through LABSBX_VAULT_IMAGE and
// LABSBX_POSTGRES_IMAGE, which the shell that runs the doctor does not set.
func imagesInUse(spec config.Spec, st *state.State, getenv func(string) string) config.Spec {
	if st == nil || st.Profile != spec.Profile {
		return spec
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if getenv(config.EnvVaultImage) == "" && st.Spec.Vault.Image != "" {
		spec.Vault.Image = st.Spec.Vault.Image
	}
	if getenv(config.EnvPostgresImage) == "" && st.Spec.Postgres.Image != "" {
		spec.Postgres.Image = st.Spec.Postgres.Image
	}
	return spec
}

// imageChecks: each image up would use is here, or will be pulled, or built locally
// (`go tool task up`) where no registry answers.
func (d *Doctor) imageChecks(ctx context.Context, rt *docker.Runtime, spec config.Spec, add func(Check)) {
	refs := []string{spec.Postgres.Image, spec.Vault.Image}
	if spec.Profile == config.ProfileFull {
		refs = refs[:0]
		for _, w := range bringup.FullImages(d.Name, spec) {
			refs = append(refs, w.Ref)
		}
	}
	for _, ref := range refs {
		_, ok, err := rt.ImageID(ctx, ref)
		switch {
		case err != nil:
			add(Check{"image " + ref, CheckFail, err.Error(), "check the Docker engine"})
		case ok:
			add(Check{"image " + ref, CheckOK, "present", ""})
		case d.Bundle != "":
			add(Check{"image " + ref, CheckOK, "not present; loaded from the bundle " + d.Bundle, ""})
		case strings.HasPrefix(ref, "labsbx.local/"):
			add(Check{"image " + ref, CheckWarn, "not present; built locally by `go tool task up` (Vault takes minutes the first time)", "go tool task images"})
		default:
			add(Check{"image " + ref, CheckWarn, "not present; up pulls it", "where no registry answers: `go tool task up` builds labsbx.local images, or use `up --bundle DIR`"})
		}
	}
}

func (d *Doctor) diskCheck(spec config.Spec, info engineInfo, add func(Check)) {
	need := uint64(minFreeVault)
	switch {
	case spec.Profile == config.ProfileFull:
		need = minFreeFull
	case spec.VMs.Count > 0:
		need = minFreeVMs
	}
	dirs := []string{d.cfg.Store.Root}
	if info.rootDir != "" {
		dirs = append(dirs, info.rootDir)
	}
	for _, dir := range dirs {
		free, err := freeBytes(dir)
		if err != nil {
			continue // Docker's root dir may not be visible from here (a VM, a remote socket)
		}
		c := Check{"disk space at " + dir, CheckOK, fmt.Sprintf("%.1f GiB free", float64(free)/(1<<30)), ""}
		if free < need {
			c.Result, c.Fix = CheckFail, fmt.Sprintf("free at least %.0f GiB there (docker system prune removes unused images)", float64(need)/(1<<30))
		}
		add(c)
	}
}

// freeBytes is the space available to this user on dir's file system (the nearest
// existing parent when dir does not exist yet).
func freeBytes(dir string) (uint64, error) {
	for {
		var fs syscall.Statfs_t
		err := syscall.Statfs(dir, &fs)
		if err == nil {
			return fs.Bavail * uint64(fs.Bsize), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir || !errors.Is(err, syscall.ENOENT) {
			return 0, err
		}
		dir = parent
	}
}

// stateCheck: the state root is a directory this user owns and can write, private to
// them (the store repairs loosened modes; a root of someone else's it cannot).
func (d *Doctor) stateCheck(add func(Check)) {
	root := d.cfg.Store.Root
	fi, err := os.Stat(root)
	if err != nil {
		add(Check{"state root", CheckFail, err.Error(), "set LABSBX_HOME to a directory you can write"})
		return
	}
	c := Check{"state root", CheckOK, root + " (" + fi.Mode().Perm().String() + ")", ""}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		c.Result, c.Detail, c.Fix = CheckFail, root+" belongs to another user", "set LABSBX_HOME to a directory of yours"
	} else if f, err := os.CreateTemp(root, ".doctor-*"); err != nil {
		c.Result, c.Detail, c.Fix = CheckFail, root+" is not writable: "+err.Error(), "set LABSBX_HOME to a directory you can write"
	} else {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	add(c)
}

// portCheck: a sandbox's ports are free ports on 127.0.0.1, chosen at up; an existing
// sandbox keeps its recorded ones, which must be free or its own.
func (d *Doctor) portCheck(add func(Check)) {
	st, err := d.cfg.Store.Load(d.Name)
	if err != nil { // no sandbox yet (or an unreadable one, which up reports itself)
		l, lerr := net.Listen("tcp", "127.0.0.1:0")
		if lerr != nil {
			add(Check{"ports on 127.0.0.1", CheckFail, lerr.Error(), "labsbx publishes every port on 127.0.0.1: make the loopback interface usable"})
			return
		}
		_ = l.Close()
		add(Check{"ports on 127.0.0.1", CheckOK, "free ports are chosen at up and recorded", ""})
		return
	}
	var busy []string
	ports := map[string]int{}
	if st.Docker != nil && st.Docker.PostgresPort != 0 {
		ports["postgres"] = st.Docker.PostgresPort
	}
	if p, err := st.VaultPort(); err == nil {
		ports["vault"] = p
	}
	for what, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%s %d", what, p))
			continue
		}
		_ = l.Close()
	}
	c := Check{"recorded ports", CheckOK, fmt.Sprintf("%v", ports), ""}
	if len(busy) > 0 {
		c.Result, c.Detail = CheckWarn, fmt.Sprintf("in use: %s (by the sandbox's own containers when it runs)", strings.Join(busy, ", "))
		c.Fix = "if the sandbox is down and something else holds them, stop it or run `labsbx down` then `labsbx up`"
	}
	add(c)
}

// vmChecks: qemu for the arm64 VMs, and what a local image build needs.
func vmChecks(add func(Check)) {
	for _, tool := range []string{guard.QemuBinary, "qemu-img", "ssh"} {
		if p, err := exec.LookPath(tool); err == nil {
			add(Check{"VMs: " + tool, CheckOK, p, ""})
		} else {
			add(Check{"VMs: " + tool, CheckFail, "not found", "apt-get install qemu-system-arm qemu-utils openssh-client (macOS: brew install qemu)"})
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	c := Check{"VMs: local image build", CheckOK, "mmdebstrap, mkfs.ext4, qemu-img and binfmt are ready", ""}
	if err := vmimages.LocalPrerequisites(); err != nil {
		c.Result, c.Detail = CheckWarn, strings.ReplaceAll(err.Error(), "\n", "; ")
		c.Fix = "as root, `go tool task vmimage` installs and enables them; a cached image needs none of them"
	}
	add(c)
}
