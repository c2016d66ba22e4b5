// Package cluster describes the full profile's k3d cluster without depending on k3d:
// its name, options, published ports and k3s flags, and the kubeconfig record the
// guard trusts. Package cluster/k3d turns it into k3d's cluster config and drives the
// k3d Go library; keeping them apart keeps k3d (and Docker's CLI packages) out of
// every command that only needs names, such as `up --dry-run`.
package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// K3dVersion is the k3d library in go.mod. Its helper images (k3d-tools, and
// k3d-proxy when there is a load balancer) are pinned to it: a library build has no
// version of its own and would otherwise ask for ":latest".
const K3dVersion = "5.8.3"

// NodePorts that the full profile's charts use, and that the cluster publishes on
// 127.0.0.1 so that labsbx reaches Vault and Postgres from the host.
const (
	VaultNodePort    = 30820
	PostgresNodePort = 30432
	// APIPort is the Kubernetes API inside the server container.
	APIPort = 6443
)

// Images k3d runs besides k3s, at the k3d library's version: the defaults of
// spec.cluster.toolsImage and spec.cluster.loadBalancerImage.
func ToolsImage() string        { return "ghcr.io/k3d-io/k3d-tools:" + K3dVersion }
func LoadBalancerImage() string { return "ghcr.io/k3d-io/k3d-proxy:" + K3dVersion }

// Helpers are the images k3d runs besides k3s for one sandbox (its spec's); an empty
// one, as in the state of a sandbox made before they could be set, is the default.
type Helpers struct {
	Tools, LoadBalancer string
}

// HelpersOf is the helpers a sandbox's spec names.
func HelpersOf(s config.ClusterSpec) Helpers {
	return Helpers{Tools: s.ToolsImage, LoadBalancer: s.LoadBalancerImage}
}

// ToolsImage is the tools container's image.
func (h Helpers) ToolsImage() string { return cmp.Or(h.Tools, ToolsImage()) }

// LoadBalancerImage is the load balancer's image.
func (h Helpers) LoadBalancerImage() string { return cmp.Or(h.LoadBalancer, LoadBalancerImage()) }

// Name is the k3d cluster of a sandbox: labsbx-<name>. Its kube context is
// k3d-labsbx-<name> (guard.ContextName).
func Name(sandbox string) string { return guard.ClusterName(sandbox) }

// Options are what the cluster config is built from. Every port is a host port on
// 127.0.0.1 and must be chosen (non-zero) before the config is built: labsbx picks
// free ports and records them in the state first, so that a resumed up reuses them.
type Options struct {
	Sandbox string // the sandbox name
	UUID    string // the sandbox UUID, put on every node as label dev.labsbx.uuid
	Servers int
	Agents  int
	Image   string // the k3s image
	Helpers Helpers
	// APIPort publishes the Kubernetes API; VaultPort and PostgresPort publish the
	// Vault and Postgres NodePorts.
	APIPort, VaultPort, PostgresPort int
}

// Port is one published port of the cluster.
type Port struct {
	Name     string `json:"name"`
	HostIP   string `json:"hostIP"`
	HostPort int    `json:"hostPort"` // 0: chosen by labsbx at up
	Target   string `json:"target"`
}

// Ports lists what the cluster publishes on 127.0.0.1.
func (o Options) Ports() []Port {
	return []Port{
		{Name: "kube-api", HostIP: "127.0.0.1", HostPort: o.APIPort, Target: "k3s API :" + strconv.Itoa(APIPort)},
		{Name: "vault", HostIP: "127.0.0.1", HostPort: o.VaultPort, Target: "NodePort " + strconv.Itoa(VaultNodePort) + " (Service vault/vault)"},
		{Name: "postgres", HostIP: "127.0.0.1", HostPort: o.PostgresPort, Target: "NodePort " + strconv.Itoa(PostgresNodePort) + " (Service postgres/postgres)"},
	}
}

// K3sArgs are the k3s server flags: no Traefik, ServiceLB or metrics-server (nothing
// in the sandbox uses them, and they cost memory and images), and the kubelet flags of
// every node (KubeletArgs).
func K3sArgs() []string {
	return append([]string{"--disable=traefik", "--disable=servicelb", "--disable=metrics-server"}, KubeletArgs()...)
}

// KubeletArgs keep every image the nodes hold: the nodes of a sandbox cannot pull, so an
// image the kubelet garbage-collects is gone for good (pause included, and with it every
// new pod). The kubelet judges by the host's disk, which a laptop or CI machine fills
// far more than a node's own: at its default thresholds (85 % to collect images, 10 %
// free to evict pods) it deleted imported images on a host disk 89 % full. So image GC
// never starts, and pods are evicted only on a disk that is really full.
func KubeletArgs() []string {
	const hard = "memory.available<50Mi,nodefs.available<1%,imagefs.available<1%,nodefs.inodesFree<1%,imagefs.inodesFree<1%"
	return []string{
		"--kubelet-arg=image-gc-high-threshold=100",
		"--kubelet-arg=image-gc-low-threshold=99",
		"--kubelet-arg=eviction-hard=" + hard,
		"--kubelet-arg=eviction-minimum-reclaim=memory.available=0Mi,nodefs.available=0Mi,imagefs.available=0Mi",
	}
}

// WithLoadBalancer reports whether k3d puts its proxy in front of the servers: only
// with several servers; one server publishes its ports itself (one image fewer).
func (o Options) WithLoadBalancer() bool { return o.Servers > 1 }

// Validate checks the options; every host port must be chosen already.
func (o Options) Validate() error {
	var errs []error
	if o.Sandbox == "" || o.UUID == "" || o.Image == "" {
		errs = append(errs, errors.New("sandbox name, UUID and k3s image are required"))
	}
	if o.Servers < 1 || o.Agents < 0 {
		errs = append(errs, fmt.Errorf("servers %d, agents %d: want at least one server", o.Servers, o.Agents))
	}
	for name, p := range map[string]int{"api": o.APIPort, "vault": o.VaultPort, "postgres": o.PostgresPort} {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s host port %d: choose a port before building the cluster config", name, p))
		}
	}
	return errors.Join(errs...)
}
