// Command flannel is the CNI plugin that k3s's network configuration names ("type":
// "flannel"), written for the test tier's node image because the proxy does not serve
// flannel-io/cni-plugin. It does what that plugin does on Linux: read the subnet that
// k3s's embedded flannel leased this node (/run/flannel/subnet.env), and delegate to
// the bridge plugin with host-local addresses from it. The delegate's config is kept
// per container, so that DEL releases exactly what ADD took.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

const (
	defaultSubnetFile = "/run/flannel/subnet.env"
	defaultDataDir    = "/var/lib/cni/flannel"
)

type netConf struct {
	types.NetConf
	SubnetFile    string         `json:"subnetFile"`
	DataDir       string         `json:"dataDir"`
	Delegate      map[string]any `json:"delegate"`
	RuntimeConfig map[string]any `json:"runtimeConfig,omitempty"`
}

// subnetEnv is what flannel wrote for this node.
type subnetEnv struct {
	network *net.IPNet
	subnet  *net.IPNet
	mtu     int
	ipmasq  bool
}

func loadConf(b []byte) (*netConf, error) {
	n := &netConf{SubnetFile: defaultSubnetFile, DataDir: defaultDataDir}
	if err := json.Unmarshal(b, n); err != nil {
		return nil, fmt.Errorf("flannel: network config: %w", err)
	}
	return n, nil
}

func readSubnetEnv(path string) (*subnetEnv, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("flannel: %w (is k3s's flannel running?)", err)
	}
	defer f.Close()
	se := &subnetEnv{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "FLANNEL_NETWORK":
			// Dual stack lists several; the first IPv4 one is the cluster network.
			_, se.network, err = net.ParseCIDR(strings.Split(v, ",")[0])
		case "FLANNEL_SUBNET":
			// The node's gateway address with its prefix (10.42.0.1/24); host-local
			// wants the network (10.42.0.0/24).
			_, se.subnet, err = net.ParseCIDR(strings.Split(v, ",")[0])
		case "FLANNEL_MTU":
			se.mtu, err = strconv.Atoi(v)
		case "FLANNEL_IPMASQ":
			se.ipmasq, err = strconv.ParseBool(v)
		}
		if err != nil {
			return nil, fmt.Errorf("flannel: %s: %s: %w", path, k, err)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if se.network == nil || se.subnet == nil {
		return nil, fmt.Errorf("flannel: %s has no FLANNEL_NETWORK or FLANNEL_SUBNET", path)
	}
	return se, nil
}

// delegateConf is the bridge configuration for this node's subnet, with the settings
// of the network config's "delegate" kept where they are set.
func delegateConf(n *netConf, se *subnetEnv) ([]byte, error) {
	d := map[string]any{}
	for k, v := range n.Delegate {
		d[k] = v
	}
	setDefault := func(k string, v any) {
		if _, ok := d[k]; !ok {
			d[k] = v
		}
	}
	setDefault("type", "bridge")
	setDefault("name", n.Name)
	setDefault("cniVersion", n.CNIVersion)
	setDefault("ipMasq", !se.ipmasq) // flannel masquerades itself when FLANNEL_IPMASQ is true
	if se.mtu > 0 {
		setDefault("mtu", se.mtu)
	}
	if d["type"] == "bridge" {
		setDefault("isGateway", true)
	}
	d["ipam"] = map[string]any{
		"type":   "host-local",
		"ranges": [][]map[string]string{{{"subnet": se.subnet.String()}}},
		"routes": []map[string]string{{"dst": se.network.String()}},
	}
	if n.RuntimeConfig != nil {
		d["runtimeConfig"] = n.RuntimeConfig
	}
	return json.Marshal(d)
}

func savedPath(n *netConf, containerID string) string {
	return filepath.Join(n.DataDir, containerID)
}

func cmdAdd(args *skel.CmdArgs) error {
	n, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	se, err := readSubnetEnv(n.SubnetFile)
	if err != nil {
		return err
	}
	conf, err := delegateConf(n, se)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(savedPath(n, args.ContainerID), conf, 0o600); err != nil {
		return err
	}
	res, err := invoke.DelegateAdd(context.TODO(), delegateType(conf), conf, nil)
	if err != nil {
		return err
	}
	return types.PrintResult(res, n.CNIVersion)
}

func delegateType(conf []byte) string {
	var d struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(conf, &d)
	return d.Type
}

func cmdDel(args *skel.CmdArgs) error {
	n, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	p := savedPath(n, args.ContainerID)
	conf, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never added, or already deleted: DEL must succeed
	}
	if err != nil {
		return err
	}
	if err := invoke.DelegateDel(context.TODO(), delegateType(conf), conf, nil); err != nil {
		return err
	}
	return os.Remove(p)
}

func cmdCheck(args *skel.CmdArgs) error {
	n, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	conf, err := os.ReadFile(savedPath(n, args.ContainerID))
	if err != nil {
		return err
	}
	return invoke.DelegateCheck(context.TODO(), delegateType(conf), conf, nil)
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck}, version.All,
		"flannel CNI plugin of the labsbx test node image (delegates to bridge and host-local)")
}
