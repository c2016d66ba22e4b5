package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/fence"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// The commands labsbx runs for the user (a drill file's commands and command probes,
// `labsbx exec`, `labsbx ci exec`) run inside the sandbox's fence (package fence):
// only its Vault, Postgres, cluster API and VM SSH ports reach them, each on
// 127.0.0.1:<recorded port>, and their HOME is the sandbox's own.

// FenceOf is the fence of the sandbox conn holds: its recorded ports, each with its
// receiver proof where a container serves it, and its HOME in the state dir (made
// here, with a Docker context naming the engine labsbx approved), as the guard
// approved them (guard.ApproveFence).
func FenceOf(conn *connect.Conn, getenv func(string) string) (*fence.Fence, error) {
	st := conn.State()
	var ports []guard.FencePort
	if st.Vault != nil {
		port, err := st.VaultPort()
		if err != nil {
			return nil, err
		}
		proof, err := conn.Receiver(connect.ComponentVault)
		if err != nil {
			return nil, err
		}
		ports = append(ports, guard.FencePort{Name: connect.ComponentVault, Port: port, Proof: proof})
	}
	if st.Docker != nil && st.Docker.PostgresPort != 0 {
		proof, err := conn.Receiver(connect.ComponentPostgres)
		if err != nil {
			return nil, err
		}
		ports = append(ports, guard.FencePort{Name: connect.ComponentPostgres, Port: st.Docker.PostgresPort, Proof: proof})
	}
	if st.Cluster != nil && st.Cluster.APIPort != 0 {
		ports = append(ports, guard.FencePort{Name: "kube-api", Port: st.Cluster.APIPort})
	}
	for _, v := range st.VMs {
		if v.SSHPort != 0 {
			ports = append(ports, guard.FencePort{Name: "ssh " + v.Name, Port: v.SSHPort})
		}
	}
	appr, err := conn.DockerApproval()
	if err != nil {
		return nil, err
	}
	home, err := sandboxHome(st, appr.Host())
	if err != nil {
		return nil, err
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	a, _, err := guard.ApproveFence(st.GuardRecord(), guard.FenceRequest{Ports: ports, Home: home, CallerHome: getenv("HOME")})
	if err != nil {
		return nil, err
	}
	return &fence.Fence{Approval: a}, nil
}

// FenceOf is the fence of sandbox name (see FenceOf).
func (c *Configuration) FenceOf(name string) (*fence.Fence, error) {
	st, err := c.Store.Load(name)
	if err != nil {
		return nil, err
	}
	return FenceOf(connect.New(st, c.Getenv), c.Getenv)
}

// sandboxContext is the name of the Docker context in the sandbox's HOME.
func sandboxContext(name string) string { return "labsbx-" + name }

// sandboxHome makes <state dir>/home, mode 0700, with a Docker configuration whose
// current context is the engine the sandbox was made on (dockerHost, as the guard
// approved it): the docker CLI in a fenced command talks to that engine, whatever the
// caller's ~/.docker says.
func sandboxHome(st *state.State, dockerHost string) (string, error) {
	home := filepath.Join(st.Dir(), guard.HomeDir)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", fmt.Errorf("the sandbox's HOME: %w", err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return "", fmt.Errorf("the sandbox's HOME: %w", err)
	}
	name := sandboxContext(st.Name)
	sum := sha256.Sum256([]byte(name))
	metaDir := filepath.Join(home, ".docker", "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(metaDir, 0o700); err != nil {
		return "", fmt.Errorf("the sandbox's Docker context: %w", err)
	}
	meta := map[string]any{
		"Name":      name,
		"Metadata":  map[string]string{"Description": "the engine of labsbx sandbox " + st.Name},
		"Endpoints": map[string]any{"docker": map[string]any{"Host": dockerHost, "SkipTLSVerify": false}},
	}
	for path, v := range map[string]any{
		filepath.Join(metaDir, "meta.json"):           meta,
		filepath.Join(home, ".docker", "config.json"): map[string]string{"currentContext": name},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return "", fmt.Errorf("the sandbox's Docker context: %w", err)
		}
	}
	return home, nil
}
