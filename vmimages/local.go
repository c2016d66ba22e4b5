package vmimages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/execx"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// Files of a local build in the image directory.
const (
	diskFile   = "disk.qcow2"
	kernelFile = "vmlinuz"
	initrdFile = "initrd.img"
	buildLog   = "build.log"
)

// BinfmtAarch64 is the kernel's binfmt_misc entry that runs arm64 binaries under
// qemu-user, which mmdebstrap needs on a host that is not arm64.
const BinfmtAarch64 = "/proc/sys/fs/binfmt_misc/qemu-aarch64"

// LocalPrerequisites reports what a local build lacks on this host, as one error per
// missing piece with the fix; nil when a build can run.
func LocalPrerequisites() error {
	var errs []error
	if runtime.GOOS != "linux" {
		return fmt.Errorf("a local image build needs Linux (mmdebstrap, mkfs.ext4 -d); use --source cloud on %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("a local image build runs mmdebstrap in root mode: run it as root (sudo), or use --source cloud"))
	}
	for _, tool := range []string{"mmdebstrap", "mkfs.ext4", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("%s not found: apt-get install mmdebstrap e2fsprogs qemu-utils", tool))
		}
	}
	if runtime.GOARCH != "arm64" {
		if b, err := os.ReadFile(BinfmtAarch64); err != nil || !strings.HasPrefix(string(b), "enabled") {
			errs = append(errs, fmt.Errorf("no enabled binfmt_misc handler for arm64 binaries (%s): apt-get install qemu-user-static binfmt-support, then `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64` (go tool task vmimage does both)", BinfmtAarch64))
		}
	}
	return errors.Join(errs...)
}

// env is the environment of the build's commands: the guard's allow-list of the
// caller's.
func (b *Builder) env() []string { return guard.ScrubbedEnv(os.Environ()) }

// buildLocal builds r into dir: mmdebstrap makes the root file system from Debian's
// arm64 packages, the kernel and initrd are copied out of it for direct boot,
// mkfs.ext4 -d turns it into a file system image (no loop device needed) and qemu-img
// converts that to qcow2. build.log keeps every command's output.
func (b *Builder) buildLocal(ctx context.Context, r *Recipe, dir string, img *Image) error {
	if err := LocalPrerequisites(); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, buildLog))
	if err != nil {
		return err
	}
	defer f.Close()
	logf := &stampWriter{w: f, start: time.Now(), bol: true}
	recipeDir := filepath.Join(dir, "recipe")
	if err := writeRecipeFiles(r, recipeDir); err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "rootfs")
	defer os.RemoveAll(rootfs)

	phase := func(name string, fn func() error) error {
		t0 := time.Now()
		fmt.Fprintf(logf, "\n=== %s\n", name)
		err := fn()
		fmt.Fprintf(logf, "=== %s: %s (%v)\n", name, time.Since(t0).Round(time.Second), err)
		b.log().Info("image build", "phase", name, "took", time.Since(t0).Round(time.Second), "err", err)
		return err
	}
	args := mmdebstrapArgs(r, recipeDir, rootfs, b.getenv(EnvDebianMirror))
	if err := phase("mmdebstrap", func() error {
		_, err := execx.Run(ctx, b.env(), logf, "mmdebstrap", args...)
		return err
	}); err != nil {
		return fmt.Errorf("%w\n(full log: %s)", err, filepath.Join(dir, buildLog))
	}
	for _, f := range []struct{ glob, dst string }{{r.Kernel, kernelFile}, {r.Initrd, initrdFile}} {
		if err := copyOut(rootfs, f.glob, filepath.Join(dir, f.dst)); err != nil {
			return err
		}
	}
	raw := filepath.Join(dir, "disk.raw")
	defer os.Remove(raw)
	if err := phase("mkfs.ext4", func() error {
		if err := makeSparse(raw, int64(r.DiskSize)); err != nil {
			return err
		}
		_, err := execx.Run(ctx, b.env(), logf, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", rootfs, raw)
		return err
	}); err != nil {
		return err
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return err
	}
	if err := phase("qemu-img convert", func() error {
		_, err := execx.Run(ctx, b.env(), logf, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, filepath.Join(dir, diskFile))
		return err
	}); err != nil {
		return err
	}
	if err := os.RemoveAll(recipeDir); err != nil {
		return err
	}
	img.Disk, img.Kernel, img.Initrd = diskFile, kernelFile, initrdFile
	img.Append, img.FirstBoot, img.DiskSize = r.Append, r.FirstBoot, r.DiskSize
	return nil
}

// mmdebstrapArgs is the mmdebstrap command line of a recipe. The hooks run on the
// build host with $1 = the root file system.
func mmdebstrapArgs(r *Recipe, recipeDir, rootfs, mirror string) []string {
	args := []string{
		"--verbose", "--mode=root", "--arch=" + r.Arch, "--variant=" + r.Variant,
		"--include=" + strings.Join(r.Packages, ","),
		`--aptopt=APT::Install-Recommends "false"`,
	}
	for _, p := range r.DpkgExcludes {
		args = append(args, "--dpkgopt=path-exclude="+p)
	}
	if _, ok := r.files["hooks/essential.sh"]; ok {
		args = append(args, "--essential-hook=sh "+shellQuote(filepath.Join(recipeDir, "hooks", "essential.sh"))+` "$1"`)
	}
	if _, ok := r.files["hooks/customize.sh"]; ok {
		args = append(args, "--customize-hook=sh "+shellQuote(filepath.Join(recipeDir, "hooks", "customize.sh"))+` "$1" `+
			shellQuote(recipeDir)+" "+shellQuote(strings.Join(r.Initramfs.Modules, " "))+" "+shellQuote(r.Initramfs.Compress)+" "+shellQuote(r.User))
	}
	args = append(args, r.Suite, rootfs)
	if mirror != "" {
		args = append(args, mirror)
	}
	return args
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeRecipeFiles(r *Recipe, dir string) error {
	for p, b := range r.files {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") || strings.Contains(p, "/sbin/") || strings.Contains(p, "/bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return err
		}
	}
	return nil
}

// copyOut copies the one file of rootfs that glob matches to dst.
func copyOut(rootfs, glob, dst string) error {
	matches, err := filepath.Glob(filepath.Join(rootfs, filepath.FromSlash(glob)))
	if err != nil {
		return err
	}
	if len(matches) != 1 {
		return fmt.Errorf("%s matches %d files in the root file system, want 1", glob, len(matches))
	}
	in, err := os.Open(matches[0])
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func makeSparse(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stampWriter prefixes every line with the seconds since start, so that build.log shows
// where a build spends its time.
type stampWriter struct {
	w     io.Writer
	start time.Time
	bol   bool // at the beginning of a line
}

func (s *stampWriter) Write(p []byte) (int, error) {
	var out []byte
	for _, c := range p {
		if s.bol {
			out = fmt.Appendf(out, "[%6.1fs] ", time.Since(s.start).Seconds())
		}
		out = append(out, c)
		s.bol = c == '\n'
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
