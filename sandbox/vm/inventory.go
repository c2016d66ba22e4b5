package vm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arcodange/labsbx/internal/fsutil"
)

// Host is how a client reaches one VM: always 127.0.0.1, the VM's forwarded port,
// the login user, the sandbox key and the known_hosts file that pins the VM's host key.
type Host struct {
	Name       string `json:"name"`
	Host       string `json:"host"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	KeyFile    string `json:"keyFile"`
	KnownHosts string `json:"knownHostsFile"`
}

// Inventory formats.
const (
	FormatYAML      = "yaml"
	FormatINI       = "ini"
	FormatSSHConfig = "ssh-config"
)

// Formats lists the formats of RenderInventory.
var Formats = []string{FormatYAML, FormatINI, FormatSSHConfig}

// sshOptions are the client options every access file sets: no user config, only the
// sandbox key, and strict checking against the pinned host keys.
func sshOptions(h Host) []string {
	return []string{"-F", "none", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + h.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null"}
}

// SSHArgs is the ssh(1) command line that logs into h (without the command).
func SSHArgs(h Host) []string {
	return append(append(sshOptions(h), "-i", h.KeyFile, "-p", strconv.Itoa(h.Port)), h.User+"@"+h.Host)
}

// RenderInventory renders hosts as an Ansible inventory (YAML or INI) or an ssh_config
// for `ssh -F`. sandbox names the sandbox in the header comment.
func RenderInventory(format, sandbox string, hosts []Host) (string, error) {
	var b strings.Builder
	switch format {
	case FormatYAML:
		fmt.Fprintf(&b, "# Ansible inventory of the arm64 VMs of labsbx sandbox %q.\n", sandbox)
		b.WriteString("# Written by labsbx; `labsbx vm inventory` prints it again after a VM moved port.\n")
		b.WriteString("all:\n  hosts:\n")
		if len(hosts) == 0 {
			b.WriteString("    {}\n")
		}
		for _, h := range hosts {
			fmt.Fprintf(&b, "    %s:\n", h.Name)
			fmt.Fprintf(&b, "      ansible_host: %s\n", yamlStr(h.Host))
			fmt.Fprintf(&b, "      ansible_port: %d\n", h.Port)
			fmt.Fprintf(&b, "      ansible_user: %s\n", yamlStr(h.User))
			fmt.Fprintf(&b, "      ansible_ssh_private_key_file: %s\n", yamlStr(h.KeyFile))
			fmt.Fprintf(&b, "      ansible_ssh_common_args: %s\n", yamlStr(shellJoin(sshOptions(h))))
			b.WriteString("      ansible_python_interpreter: /usr/bin/python3\n")
		}
	case FormatINI:
		fmt.Fprintf(&b, "# Ansible inventory of the arm64 VMs of labsbx sandbox %q.\n", sandbox)
		b.WriteString("# Written by labsbx; `labsbx vm inventory -f ini` prints it again after a VM moved port.\n")
		b.WriteString("[all]\n")
		for _, h := range hosts {
			fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s ansible_ssh_common_args=%s ansible_python_interpreter=/usr/bin/python3\n",
				h.Name, h.Host, h.Port, shellQuote(h.User), shellQuote(h.KeyFile), shellQuote(shellJoin(sshOptions(h))))
		}
	case FormatSSHConfig:
		fmt.Fprintf(&b, "# ssh_config of the arm64 VMs of labsbx sandbox %q: ssh -F <this file> <vm>\n", sandbox)
		for _, h := range hosts {
			fmt.Fprintf(&b, "\nHost %s\n", h.Name)
			fmt.Fprintf(&b, "  HostName %s\n  Port %d\n  User %s\n", h.Host, h.Port, h.User)
			fmt.Fprintf(&b, "  IdentityFile %s\n  IdentitiesOnly yes\n", configQuote(h.KeyFile))
			fmt.Fprintf(&b, "  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n", configQuote(h.KnownHosts))
		}
	default:
		return "", fmt.Errorf("unknown inventory format %q: use %s", format, strings.Join(Formats, ", "))
	}
	return b.String(), nil
}

// KnownHosts renders the known_hosts lines that pin each VM's host key on its port.
func KnownHosts(vms []State) string {
	var b strings.Builder
	for _, v := range vms {
		fmt.Fprintf(&b, "[127.0.0.1]:%d %s\n", v.SSHPort, strings.TrimSpace(v.HostKey))
	}
	return b.String()
}

// Hosts is how clients reach the given VMs.
func (m *Manager) Hosts(vms []State) ([]Host, error) {
	kp, err := m.ClientKey()
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, v := range vms {
		out = append(out, Host{Name: v.Name, Host: "127.0.0.1", Port: v.SSHPort, User: v.User,
			KeyFile: kp.Path(), KnownHosts: filepath.Join(m.VMsDir(), KnownHostsFile)})
	}
	return out, nil
}

// AccessFiles are the files under <state dir>/vms/ that clients use.
type AccessFiles struct {
	KnownHosts    string `json:"knownHosts"`
	SSHConfig     string `json:"sshConfig"`
	InventoryYAML string `json:"inventoryYAML"`
	InventoryINI  string `json:"inventoryINI"`
}

// WriteAccessFiles writes known_hosts, ssh_config and the two inventories for vms.
// Run it whenever a VM is created or moves port.
func (m *Manager) WriteAccessFiles(vms []State) (AccessFiles, error) {
	dir := m.VMsDir()
	f := AccessFiles{
		KnownHosts: filepath.Join(dir, KnownHostsFile), SSHConfig: filepath.Join(dir, "ssh_config"),
		InventoryYAML: filepath.Join(dir, "inventory.yaml"), InventoryINI: filepath.Join(dir, "inventory.ini"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	hosts, err := m.Hosts(vms)
	if err != nil {
		return f, err
	}
	files := map[string]string{f.KnownHosts: KnownHosts(vms)}
	for path, format := range map[string]string{f.SSHConfig: FormatSSHConfig, f.InventoryYAML: FormatYAML, f.InventoryINI: FormatINI} {
		if files[path], err = RenderInventory(format, m.sb.Record.Name, hosts); err != nil {
			return f, err
		}
	}
	for path, content := range files {
		if err := fsutil.WriteFileAtomic(path, []byte(content), fsutil.SecretMode); err != nil {
			return f, err
		}
	}
	return f, nil
}

// yamlStr quotes s as a YAML double-quoted scalar (JSON's string syntax is one).
func yamlStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// shellQuote quotes s for a POSIX shell (and Ansible's INI parser, which uses shlex).
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%_-+=:,./", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// configQuote quotes an ssh_config value that holds spaces.
func configQuote(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}
