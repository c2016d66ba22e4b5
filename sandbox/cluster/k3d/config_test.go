package k3d

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/docker/go-connections/nat"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/arcodange/labsbx/internal/goldenfile"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
)

func testOptions(servers, agents int) cluster.Options {
	return cluster.Options{
		Sandbox: "demo", UUID: "8d0c4f0e-3a57-4d7e-9a43-2b1f0c6d9e21",
		Servers: servers, Agents: agents, Image: "rancher/k3s:v1.34.2-k3s1",
		APIPort: 36443, VaultPort: 38200, PostgresPort: 35432,
	}
}

// TestConfigGolden: the k3d cluster config of a sandbox, as ClusterRun receives it.
// DOCKER_HOST points nowhere: building the config must not need an engine.
func TestConfigGolden(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("K3D_HELPER_IMAGE_TAG", "")
	for _, tc := range []struct {
		golden          string
		servers, agents int
	}{
		{"k3d-1server.json", 1, 0},
		{"k3d-3servers-2agents.json", 3, 2},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			cc, err := Config(t.Context(), testOptions(tc.servers, tc.agents))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(cc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			goldenfile.Assert(t, tc.golden, append(b, '\n'))
			checkConfig(t, cc.Cluster, tc.servers, tc.agents)
			if cc.KubeconfigOpts.UpdateDefaultKubeconfig || cc.KubeconfigOpts.SwitchCurrentContext {
				t.Error("the config would touch ~/.kube/config or switch the context")
			}
		})
	}
}

func checkConfig(t *testing.T, c k3dtypes.Cluster, servers, agents int) {
	t.Helper()
	if c.Name != "labsbx-demo" || c.KubeAPI.Binding.HostIP != "127.0.0.1" || c.KubeAPI.Binding.HostPort != "36443" || c.KubeAPI.Host != "127.0.0.1" {
		t.Errorf("cluster %s, API %+v: want labsbx-demo on 127.0.0.1:36443", c.Name, c.KubeAPI)
	}
	var s, a int
	for _, n := range c.Nodes {
		if n.RuntimeLabels[guard.LabelUUID] != "8d0c4f0e-3a57-4d7e-9a43-2b1f0c6d9e21" {
			t.Errorf("node %s lacks the UUID label", n.Name)
		}
		if _, ok := n.RuntimeLabels[guard.LabelSandbox]; ok {
			t.Errorf("node %s carries %s: the vault profile's down would remove it", n.Name, guard.LabelSandbox)
		}
		switch n.Role {
		case k3dtypes.ServerRole:
			s++
			if !strings.HasPrefix(strings.Join(n.Args, " "), "--disable=traefik --disable=servicelb --disable=metrics-server --kubelet-arg=image-gc-high-threshold=100 ") {
				t.Errorf("server %s args %v", n.Name, n.Args)
			}
		case k3dtypes.AgentRole:
			a++
			if !slices.Equal(n.Args, cluster.KubeletArgs()) {
				t.Errorf("agent %s args %v, want the kubelet's", n.Name, n.Args)
			}
		case k3dtypes.LoadBalancerRole:
			if !strings.HasSuffix(n.Image, ":"+cluster.K3dVersion) {
				t.Errorf("load balancer image %s is not pinned to %s", n.Image, cluster.K3dVersion)
			}
		}
		for port, bindings := range n.Ports {
			for _, b := range bindings {
				if b.HostIP != "127.0.0.1" {
					t.Errorf("node %s publishes %s on %q, not 127.0.0.1", n.Name, port, b.HostIP)
				}
			}
		}
	}
	if s != servers || a != agents {
		t.Errorf("%d servers and %d agents, want %d and %d", s, a, servers, agents)
	}
	first := c.Nodes[0]
	if c.ServerLoadBalancer != nil {
		first = c.Nodes[1]
	}
	for _, p := range []string{"30820/tcp", "30432/tcp"} {
		if b := first.Ports[natPort(p)]; len(b) != 1 {
			t.Errorf("server-0 publishes %s %d times, want once", p, len(b))
		}
	}
}

func TestConfigRefusesUnchosenPorts(t *testing.T) {
	o := testOptions(1, 0)
	o.VaultPort = 0
	if _, err := Config(t.Context(), o); err == nil || !strings.Contains(err.Error(), "vault host port 0") {
		t.Errorf("Config with port 0 = %v", err)
	}
}

// TestK3dVersion: the pinned helper image tag is the k3d library that go.mod requires.
func TestK3dVersion(t *testing.T) {
	b, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/k3d-io/k3d/v5" {
			if f[1] != "v"+cluster.K3dVersion {
				t.Errorf("go.mod requires k3d %s, K3dVersion is %s", f[1], cluster.K3dVersion)
			}
			return
		}
	}
	t.Error("go.mod does not require k3d")
}

func natPort(s string) nat.Port { return nat.Port(s) }
