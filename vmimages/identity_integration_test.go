package vmimages

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// TestIntegrationIdentityScriptSurvivesLostWrites runs the image's labsbx-identity in a
// Debian 12 container (the test Postgres image: the same release's userland, with
// useradd, getent and coreutils) against a stand-in for QEMU's fw_cfg items. It then
// takes away what a power cut during the first boot can take away (the sudo rule, the
// hosts line, the authorized key, the first-boot mark) and runs it again, as the next
// boot does: everything must be back. A third run must change nothing, and rewrite no file.
func TestIntegrationIdentityScriptSurvivesLostWrites(t *testing.T) {
	testenv.RequireImage(t, testenv.PostgresImage)
	script, err := filepath.Abs("recipes/debian-12-arm64/overlay/usr/local/sbin/labsbx-identity")
	if err != nil {
		t.Fatal(err)
	}
	fw := t.TempDir()
	for item, content := range map[string]string{
		"hostname":                 "vm-7\n",
		"user":                     "lab\n",
		"authorized_keys":          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKc0mLq4qJ4j1m3t7a7b9Qy2Zf0d5B8Hc3pV6x1sW2eR labsbx\n",
		"ssh_host_ed25519_key":     "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n",
		"ssh_host_ed25519_key.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM1host labsbx-host\n",
	} {
		if err := os.MkdirAll(filepath.Join(fw, item), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fw, item, "raw"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := `set -e
test "$(cat /etc/sudoers.d/labsbx)" = "lab ALL=(ALL) NOPASSWD:ALL"
test "$(stat -c %a /etc/sudoers.d/labsbx)" = 440
grep -qx '127.0.1.1	vm-7' /etc/hosts
test "$(grep -c '^127\.0\.1\.1' /etc/hosts)" = 1
test "$(cat /etc/hostname)" = vm-7
test "$(hostname)" = vm-7
cmp /fw/authorized_keys/raw /home/lab/.ssh/authorized_keys
test "$(stat -c %U:%a /home/lab/.ssh/authorized_keys)" = lab:600
cmp /fw/ssh_host_ed25519_key/raw /etc/ssh/ssh_host_ed25519_key
test -s /var/lib/labsbx/first-boot
test -z "$(ls /etc/sudoers.d/*.labsbx-new /etc/*.labsbx-new /etc/ssh/*.labsbx-new 2>/dev/null)"
`
	steps := strings.Join([]string{
		// Docker bind-mounts /etc/hostname and /etc/hosts, which cannot be renamed over
		// as the script does on a VM's disk: take the mounts away first.
		"umount /etc/hostname /etc/hosts",
		"mkdir -p /etc/ssh /etc/sudoers.d",
		"/identity", check,
		// What a power cut during the first boot loses.
		"rm /etc/sudoers.d/labsbx", "sed -i '/^127.0.1.1/d' /etc/hosts", ": > /home/lab/.ssh/authorized_keys", ": > /var/lib/labsbx/first-boot",
		"/identity", check,
		// A boot whose identity is on disk rewrites nothing, the keys and the mark included.
		"files='/etc/sudoers.d/labsbx /etc/hosts /etc/hostname /home/lab/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub /var/lib/labsbx/first-boot'",
		"before=$(stat -c %Y.%i $files)", "sleep 1.1",
		"/identity", `test "$(stat -c %Y.%i $files)" = "$before"`,
		"echo identity-ok",
	}, "\n")
	out, err := exec.Command("docker", "run", "--rm", "--user", "0", "--cap-add", "SYS_ADMIN", "--security-opt", "apparmor=unconfined", "--entrypoint", "/bin/sh",
		"-e", "LABSBX_FW_CFG=/fw", "-v", script+":/identity:ro", "-v", fw+":/fw:ro",
		testenv.PostgresImage, "-c", steps).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "identity-ok") {
		t.Fatalf("labsbx-identity: %v\n%s", err, out)
	}
}
