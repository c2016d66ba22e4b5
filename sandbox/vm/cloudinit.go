package vm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// The downloaded Debian cloud image has no labsbx-identity unit: cloud-init gives it
// the same identity. Its NoCloud data source finds the seed URL in the SMBIOS serial
// number; labsbx serves the seed on 127.0.0.1, which the guest reaches as 10.0.2.2
// through QEMU's user network, under a random path, only until the VM is ready.

// seedServer serves one VM's cloud-init seed.
type seedServer struct {
	srv *http.Server
}

// CloudInitUserData is the #cloud-config of a VM: hostname, the login user with the
// sandbox key and passwordless sudo, the VM's own host key, and the first-boot mark
// labsbx waits for.
func CloudInitUserData(hostname, user, authorizedKey, hostKeyPEM, hostKeyPub string) string {
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	fmt.Fprintf(&b, "hostname: %s\n", hostname)
	b.WriteString("users:\n")
	fmt.Fprintf(&b, "  - name: %s\n    shell: /bin/bash\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    lock_passwd: true\n", user)
	fmt.Fprintf(&b, "    ssh_authorized_keys:\n      - %s\n", strings.TrimSpace(authorizedKey))
	b.WriteString("ssh_pwauth: false\nssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  ed25519_private: |\n")
	for _, l := range strings.Split(strings.TrimSpace(hostKeyPEM), "\n") {
		b.WriteString("    " + l + "\n")
	}
	fmt.Fprintf(&b, "  ed25519_public: %s\n", strings.TrimSpace(hostKeyPub))
	b.WriteString("runcmd:\n  - [sh, -c, 'mkdir -p /var/lib/labsbx && date -u +%FT%TZ > /var/lib/labsbx/first-boot']\n")
	return b.String()
}

// startCloudInitSeed serves the VM's seed and returns the SMBIOS serial that points
// cloud-init at it.
func (m *Manager) startCloudInitSeed(st *State) (string, error) {
	m.stopSeed(st.Name)
	ck, err := m.ClientKey()
	if err != nil {
		return "", err
	}
	signer, err := loadOrCreateKey(ck, "labsbx-"+m.sb.Record.Name)
	if err != nil {
		return "", err
	}
	hk, err := m.sb.SecretPath(hostKeyFile(st.Name))
	if err != nil {
		return "", err
	}
	hostPEM, err := hk.ReadFile()
	if err != nil {
		return "", err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return "", err
	}
	prefix := "/" + hex.EncodeToString(tok) + "/"
	files := map[string]string{
		"meta-data":   fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", guard.VMProcessName(m.sb.Record.UUID, st.Name), st.Name),
		"user-data":   CloudInitUserData(st.Name, st.User, authorizedLine(signer, "labsbx-"+m.sb.Record.Name), string(hostPEM), st.HostKey),
		"vendor-data": "",
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[strings.TrimPrefix(r.URL.Path, prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	m.mu.Lock()
	m.seeds[st.Name] = &seedServer{srv: srv}
	m.mu.Unlock()
	port := l.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("ds=nocloud-net;s=http://10.0.2.2:%d%s", port, prefix), nil
}

func (m *Manager) stopSeed(vm string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.seeds[vm]; ok {
		_ = s.srv.Close()
		delete(m.seeds, vm)
	}
}
