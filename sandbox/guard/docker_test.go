package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerConfigDir writes a docker config dir with contexts name→host and an
// optional currentContext.
func dockerConfigDir(t *testing.T, current string, contexts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if current != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"`+current+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, host := range contexts {
		sum := sha256.Sum256([]byte(name))
		d := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		meta := `{"Name":"` + name + `","Metadata":{},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
		if err := os.WriteFile(filepath.Join(d, "meta.json"), []byte(meta), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestApproveDocker(t *testing.T) {
	ctxs := map[string]string{
		"colima": "unix:///Users/me/.colima/default/docker.sock",
		"prod":   "ssh://deploy@prod.example",
		"lan":    "tcp://192.168.1.5:2376",
	}
	cfg := dockerConfigDir(t, "", ctxs)
	cfgProd := dockerConfigDir(t, "prod", ctxs)
	cfgColima := dockerConfigDir(t, "colima", ctxs)
	cases := []struct {
		name string
		env  map[string]string
		goos string
		want string // "" = approved
		host string
	}{
		{"nothing set", map[string]string{"DOCKER_CONFIG": cfg}, "linux", "", "unix:///var/run/docker.sock"},
		{"unix socket", map[string]string{"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "linux", "", "unix:///run/user/1000/docker.sock"},
		{"relative unix socket", map[string]string{"DOCKER_HOST": "unix://docker.sock"}, "linux", "not an absolute unix socket path", ""},
		{"tcp loopback", map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2375"}, "linux", "", "tcp://127.0.0.1:2375"},
		{"tcp LAN", map[string]string{"DOCKER_HOST": "tcp://192.168.1.5:2376"}, "linux", "not a loopback literal", ""},
		{"tcp name", map[string]string{"DOCKER_HOST": "tcp://docker.example.com:2376"}, "linux", "not a loopback literal", ""},
		{"tcp localhost look-alike", map[string]string{"DOCKER_HOST": "tcp://localhost.example.com:2375"}, "linux", "not a loopback literal", ""},
		{"ssh", map[string]string{"DOCKER_HOST": "ssh://deploy@prod.example"}, "linux", "ssh:// engines are remote", ""},
		{"ssh loopback", map[string]string{"DOCKER_HOST": "ssh://localhost"}, "linux", "ssh:// engines are remote", ""},
		{"npipe on linux", map[string]string{"DOCKER_HOST": "npipe:////./pipe/docker_engine"}, "linux", "only for Windows", ""},
		{"npipe on windows", map[string]string{"DOCKER_HOST": "npipe:////./pipe/docker_engine"}, "windows", "", "npipe:////./pipe/docker_engine"},
		{"http", map[string]string{"DOCKER_HOST": "http://127.0.0.1:2375"}, "linux", "not a local engine", ""},
		{"DOCKER_CONTEXT local", map[string]string{"DOCKER_CONTEXT": "colima", "DOCKER_CONFIG": cfg}, "linux", "", ctxs["colima"]},
		{"DOCKER_CONTEXT ssh", map[string]string{"DOCKER_CONTEXT": "prod", "DOCKER_CONFIG": cfg}, "linux", "ssh:// engines are remote", ""},
		{"DOCKER_CONTEXT LAN", map[string]string{"DOCKER_CONTEXT": "lan", "DOCKER_CONFIG": cfg}, "linux", "not a loopback literal", ""},
		{"DOCKER_CONTEXT missing", map[string]string{"DOCKER_CONTEXT": "gone", "DOCKER_CONFIG": cfg}, "linux", "no such file", ""},
		{"DOCKER_CONTEXT default", map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": cfgProd}, "linux", "", "unix:///var/run/docker.sock"},
		{"currentContext ssh", map[string]string{"DOCKER_CONFIG": cfgProd}, "linux", "ssh:// engines are remote", ""},
		{"currentContext via HOME", map[string]string{"HOME": filepath.Dir(cfgProd)}, "linux", "", "unix:///var/run/docker.sock"}, // ~/.docker absent
		{"currentContext local", map[string]string{"DOCKER_CONFIG": cfgColima}, "linux", "", ctxs["colima"]},
		{"DOCKER_HOST wins over context", map[string]string{"DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER_CONTEXT": "prod", "DOCKER_CONFIG": cfg}, "linux", "", "unix:///var/run/docker.sock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, rep, err := approveDocker(func(k string) string { return tc.env[k] }, tc.goos)
			assertDecision(t, a.host != "", rep, err, tc.want)
			if tc.want == "" && a.Host() != tc.host {
				t.Errorf("host = %q, want %q", a.Host(), tc.host)
			}
			if err != nil && strings.Contains(err.Error(), "deploy@") {
				t.Errorf("userinfo leaked: %v", err)
			}
		})
	}
}

func TestDockerClient(t *testing.T) {
	for _, host := range []string{"unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://0.0.0.0:2375"} {
		a, err := ApproveDocker(func(k string) string {
			if k == "DOCKER_HOST" {
				return host
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.Client()
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if c.DaemonHost() != host {
			t.Errorf("client host %q, want %q", c.DaemonHost(), host)
		}
		c.Close()
	}
}

func TestOwnerAndApproveRemoval(t *testing.T) {
	const other = "0f0f0f0f-0000-4000-8000-000000000000"
	cases := []struct {
		labels    map[string]string
		uuid      string
		want      Ownership
		removable bool
	}{
		{map[string]string{LabelSandbox: "demo", LabelUUID: fxUUID, LabelComponent: "vault"}, fxUUID, Ours, true},
		{map[string]string{LabelUUID: fxUUID, LabelComponent: "k3d"}, fxUUID, Ours, true}, // a k3d node: UUID only
		{map[string]string{LabelSandbox: "demo"}, fxUUID, Unclaimed, false},               // the name is not an identity
		{map[string]string{LabelSandbox: "demo"}, "", Unclaimed, true},                    // no state: only UUID-less objects
		{map[string]string{LabelSandbox: "other", LabelUUID: fxUUID}, fxUUID, NotOurs, false},
		{map[string]string{LabelSandbox: "demo", LabelUUID: other}, fxUUID, OtherUUID, false},
		{map[string]string{LabelSandbox: "demo", LabelUUID: other}, "", OtherUUID, false}, // another root's sandbox
		{map[string]string{"app": "vault"}, fxUUID, NotOurs, false},
		{nil, "", NotOurs, false},
		{map[string]string{LabelSandbox: "", LabelUUID: ""}, "", NotOurs, false},
	}
	for _, tc := range cases {
		if got := Owner(tc.labels, "demo", tc.uuid); got != tc.want {
			t.Errorf("Owner(%v, uuid %q) = %v, want %v", tc.labels, tc.uuid, got, tc.want)
		}
		err := ApproveRemoval("container", "labsbx-demo-vault", tc.labels, "demo", tc.uuid)
		if (err == nil) != tc.removable || err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("ApproveRemoval(%v, uuid %q) = %v, want removable %v", tc.labels, tc.uuid, err, tc.removable)
		}
	}
	// Without state, an object of another UUID is refused with no command that would
	// remove it: it may be a live sandbox of another state root, whose owner down looks
	// for and names.
	err := ApproveRemoval("volume", "labsbx-demo-vault", map[string]string{LabelSandbox: "demo", LabelUUID: other}, "demo", "")
	if err == nil || strings.Contains(err.Error(), "--uuid") || !strings.Contains(err.Error(), other) {
		t.Errorf("refusal without state: %v", err)
	}
}

// TestApproveCluster: a k3d cluster is the sandbox's when every container, its network
// and its image volume carry the UUID; k3d's tools container, which no config can
// label, is the sandbox's only with proof: its exact name, k3d's labels of the
// cluster, and a mount of the image volume that carries the UUID.
func TestApproveCluster(t *testing.T) {
	const other = "0f0f0f0f-0000-4000-8000-000000000000"
	ours := map[string]string{LabelUUID: fxUUID, LabelComponent: "k3d"}
	k3dOnly := map[string]string{K3dLabelApp: "k3d", K3dLabelCluster: "labsbx-demo"}
	node := func(name string, uuid string) ClusterNode {
		l := map[string]string{K3dLabelApp: "k3d", K3dLabelCluster: "labsbx-demo", K3dLabelRole: "server"}
		if uuid != "" {
			l[LabelUUID] = uuid
		}
		return ClusterNode{Name: name, Labels: l, Volumes: []string{"k3d-labsbx-demo-images"}}
	}
	// tools is the container as k3d's runToolsNode makes it, with edit applied.
	tools := func(edit func(*ClusterNode)) ClusterNode {
		n := ClusterNode{
			Name:    "k3d-labsbx-demo-tools",
			Labels:  map[string]string{K3dLabelApp: "k3d", "k3d.version": "v5.8.3", K3dLabelCluster: "labsbx-demo", K3dLabelRole: "noRole"},
			Volumes: []string{"k3d-labsbx-demo-images"},
		}
		if edit != nil {
			edit(&n)
		}
		return n
	}
	vol := func(l map[string]string) *ClusterObject {
		return &ClusterObject{Name: "k3d-labsbx-demo-images", Labels: l}
	}
	net := func(l map[string]string) *ClusterObject { return &ClusterObject{Name: "k3d-labsbx-demo", Labels: l} }
	cases := []struct {
		name string
		v    ClusterView
		uuid string
		ok   bool
	}{
		{"a whole cluster", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-server-0", fxUUID), node("k3d-labsbx-demo-serverlb", fxUUID), tools(nil)}, Network: net(ours), ImageVolume: vol(ours)}, fxUUID, true},
		{"leftovers: the tools container alone, with proof", ClusterView{Nodes: []ClusterNode{tools(nil)}, ImageVolume: vol(ours)}, fxUUID, true},
		{"leftovers: tools, network and volume", ClusterView{Nodes: []ClusterNode{tools(nil)}, Network: net(ours), ImageVolume: vol(ours)}, fxUUID, true},
		{"leftovers: a network and a volume", ClusterView{Network: net(ours), ImageVolume: vol(ours)}, fxUUID, true},
		{"leftovers: a load balancer of ours", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-serverlb", fxUUID)}}, fxUUID, true},

		{"the tools name, no volume at all", ClusterView{Nodes: []ClusterNode{tools(nil)}}, fxUUID, false},
		{"the tools name, a volume k3d made (no UUID)", ClusterView{Nodes: []ClusterNode{tools(nil)}, ImageVolume: vol(k3dOnly)}, fxUUID, false},
		{"the tools name, not mounting the volume", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Volumes = []string{"scratch"} })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"the tools name, on our network only", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Volumes = nil })}, Network: net(ours)}, fxUUID, false},
		{"the tools name, another cluster's label", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Labels[K3dLabelCluster] = "labsbx-other" })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"the tools name, not k3d's role", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Labels[K3dLabelRole] = "agent" })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"the tools name, no app=k3d", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { delete(n.Labels, K3dLabelApp) })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"the tools name with a sandbox name label", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Labels[LabelSandbox] = "demo" })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"another container without the UUID, mounting our volume", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Name = "k3d-labsbx-demo-tools-2" })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"a server without the UUID", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-server-0", fxUUID), node("k3d-labsbx-demo-agent-0", "")}, ImageVolume: vol(ours)}, fxUUID, false},

		{"the tools container of another UUID", ClusterView{Nodes: []ClusterNode{tools(func(n *ClusterNode) { n.Labels[LabelUUID] = other })}, ImageVolume: vol(ours)}, fxUUID, false},
		{"the tools container on another UUID's volume", ClusterView{Nodes: []ClusterNode{tools(nil)}, ImageVolume: vol(map[string]string{LabelUUID: other})}, fxUUID, false},
		{"a node of another UUID", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-serverlb", other)}}, fxUUID, false},
		{"a network of another UUID", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-server-0", fxUUID)}, Network: net(map[string]string{LabelUUID: other})}, fxUUID, false},
		{"a network k3d made (no UUID)", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-server-0", fxUUID)}, Network: net(map[string]string{K3dLabelApp: "k3d"})}, fxUUID, false},
		{"a volume of another name", ClusterView{ImageVolume: &ClusterObject{Name: "k3d-labsbx-demo-images2", Labels: ours}}, fxUUID, false},

		{"nothing", ClusterView{}, fxUUID, false},
		{"no state", ClusterView{Nodes: []ClusterNode{node("k3d-labsbx-demo-server-0", fxUUID)}}, "", false},
	}
	for _, tc := range cases {
		err := ApproveCluster("demo", tc.v, tc.uuid)
		t.Logf("%s: %v", tc.name, err)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("%s: ApproveCluster = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if err := ApproveCluster("../demo", ClusterView{ImageVolume: vol(ours)}, fxUUID); err == nil {
		t.Error("an invalid sandbox name was approved")
	}
	// The refusal of a look-alike says what is missing.
	err := ApproveCluster("demo", ClusterView{Nodes: []ClusterNode{tools(nil)}, ImageVolume: vol(k3dOnly)}, fxUUID)
	if err == nil || !strings.Contains(err.Error(), "volume k3d-labsbx-demo-images of k3d cluster labsbx-demo does not carry") {
		t.Errorf("refusal of a tools container on a volume without the UUID: %v", err)
	}
	err = ApproveCluster("demo", ClusterView{Nodes: []ClusterNode{tools(nil)}}, fxUUID)
	if err == nil || !strings.Contains(err.Error(), "a name and labels alone prove nothing") {
		t.Errorf("refusal of a tools container without its volume: %v", err)
	}
}

func TestZeroApprovalsRefuse(t *testing.T) {
	ctx := t.Context()
	var ka KubeApproval
	var va VaultApproval
	var da DockerApproval
	var kp KeyPath
	var k *Kube
	_, e1 := ka.RESTConfig()
	_, e2 := ka.Connect(ctx, Record{})
	_, e3 := k.Clientset()
	e4 := k.WriteMarker(ctx)
	_, e5 := (&Kube{}).RESTConfig()
	_, e6 := va.Client()
	e7 := va.VerifyClusterID(ctx)
	_, e8 := va.ClusterID(ctx)
	_, e9 := da.Client()
	_, e10 := kp.ReadFile()
	e11 := kp.WriteFile([]byte("x"))
	for i, err := range []error{e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11} {
		if !errors.Is(err, ErrRefused) {
			t.Errorf("zero value call %d: %v, want refusal", i+1, err)
		}
	}
	if ka.Server() != "" || ka.Context() != "" || va.Addr() != "" || va.Verified() || da.Host() != "" || kp.Path() != "" || k.Verified() {
		t.Error("a zero approval reports a target")
	}
}

func TestRefusalError(t *testing.T) {
	cause := os.ErrNotExist
	r := refusef("cannot read %q: %w", "f", cause)
	if r.Error() != `refused: cannot read "f": file does not exist` {
		t.Errorf("Error() = %q", r.Error())
	}
	if !errors.Is(r, ErrRefused) || !errors.Is(r, os.ErrNotExist) {
		t.Error("refusal does not match ErrRefused and its cause")
	}
	var rr *Refusal
	if !errors.As(error(r), &rr) {
		t.Error("errors.As(*Refusal) failed")
	}
}
