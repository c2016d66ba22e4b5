package sandbox

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/internal/bringup"
	"github.com/arcodange/labsbx/sandbox/state"
)

// Plan is what `labsbx up` would do, computed from the config alone (`up --dry-run`):
// building it contacts no Docker engine, cluster or Vault, and writes no state.
type Plan struct {
	Name    string   `json:"name"`
	Profile string   `json:"profile"`
	Apps    []string `json:"apps"`
	// Available is false for a profile this build cannot bring up yet (Note says why).
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
	StateDir  string `json:"stateDir"`

	Docker   *PlanDocker           `json:"docker,omitempty"`  // vault profile
	Cluster  *PlanCluster          `json:"cluster,omitempty"` // full profile
	Images   []PlanImage           `json:"images"`
	Charts   []charts.Ref          `json:"charts,omitempty"`
	Releases []bringup.FullRelease `json:"releases,omitempty"`
	// Ports are published on 127.0.0.1; HostPort 0 is chosen (free) at up and recorded.
	Ports []PlanPort `json:"ports"`
	Steps []string   `json:"steps"`
}

// PlanDocker is the vault profile's Docker objects.
type PlanDocker struct {
	Network    string          `json:"network"`
	Volumes    []string        `json:"volumes"`
	Containers []PlanContainer `json:"containers"`
}

type PlanContainer struct {
	Name      string `json:"name"`
	Component string `json:"component"`
	Image     string `json:"image"`
	Volume    string `json:"volume"`
	Mount     string `json:"mount"`
}

// PlanCluster is the full profile's k3d cluster.
type PlanCluster struct {
	Name         string   `json:"name"`
	Context      string   `json:"context"`
	Network      string   `json:"network"`
	K3sImage     string   `json:"k3sImage"`
	Servers      int      `json:"servers"`
	Agents       int      `json:"agents"`
	LoadBalancer bool     `json:"loadBalancer"`
	K3sArgs      []string `json:"k3sArgs"`
	// Kubeconfig is where labsbx writes it; ~/.kube/config is never touched unless
	// --merge-kubeconfig.
	Kubeconfig string `json:"kubeconfig"`
	Marker     string `json:"marker"`
}

type PlanImage struct {
	Component string `json:"component"`
	Ref       string `json:"ref"`
}

type PlanPort struct {
	Name     string `json:"name"`
	HostIP   string `json:"hostIP"`
	HostPort int    `json:"hostPort"`
	Target   string `json:"target"`
}

// PlanOptions are the inputs of a plan.
type PlanOptions struct {
	Name string
	Spec config.Spec
	// StateDir is the sandbox's state directory (where the kubeconfig and keys go).
	StateDir string
}

// NewPlan computes the plan of `labsbx up` for a validated spec.
func NewPlan(o PlanOptions) (*Plan, error) {
	if err := config.ValidateName(o.Name); err != nil {
		return nil, err
	}
	s := o.Spec
	p := &Plan{Name: o.Name, Profile: s.Profile, Apps: append([]string(nil), s.Apps...), StateDir: o.StateDir}
	switch s.Profile {
	case config.ProfileVault:
		p.vault(s)
	case config.ProfileFull:
		p.full(s)
	default:
		return nil, fmt.Errorf("invalid profile %q: use %q or %q", s.Profile, config.ProfileFull, config.ProfileVault)
	}
	return p, nil
}

// vault is the plan of the vault profile; its steps are the run's own (a sandbox that
// had VMs and now has none also gets a "Removing the arm64 VMs" step, which depends on
// the state, not the spec).
func (p *Plan) vault(s config.Spec) {
	p.Available = true
	obj := func(c string) string { return "labsbx-" + p.Name + "-" + c }
	p.Docker = &PlanDocker{
		Network: "labsbx-" + p.Name,
		Volumes: []string{obj(connect.ComponentPostgres), obj(connect.ComponentVault)},
		Containers: []PlanContainer{
			{Name: obj(connect.ComponentPostgres), Component: connect.ComponentPostgres, Image: s.Postgres.Image, Volume: obj(connect.ComponentPostgres), Mount: "/var/lib/postgresql/data"},
			{Name: obj(connect.ComponentVault), Component: connect.ComponentVault, Image: s.Vault.Image, Volume: obj(connect.ComponentVault), Mount: "/vault/file"},
		},
	}
	p.Images = []PlanImage{{connect.ComponentPostgres, s.Postgres.Image}, {connect.ComponentVault, s.Vault.Image}}
	p.Ports = []PlanPort{
		{Name: connect.ComponentPostgres, HostIP: "127.0.0.1", Target: obj(connect.ComponentPostgres) + ":" + strconv.Itoa(connect.PostgresPort)},
		{Name: connect.ComponentVault, HostIP: "127.0.0.1", Target: obj(connect.ComponentVault) + ":" + strconv.Itoa(connect.VaultPort)},
	}
	p.Steps = nil
	for _, st := range bringup.VaultSteps(p.Name, s, false) {
		p.Steps = append(p.Steps, st.Name)
	}
}

func (p *Plan) full(s config.Spec) {
	p.Available = true
	p.Note = "needs every image above in the local Docker engine, pulled or loaded from an offline bundle (up --bundle DIR); without network, also list k3s's own images in spec.cluster.systemImages"
	o := cluster.Options{Sandbox: p.Name, Servers: s.Cluster.Servers, Agents: s.Cluster.Agents, Image: s.Cluster.K3sImage, APIPort: s.Cluster.APIPort}
	name := cluster.Name(p.Name)
	p.Cluster = &PlanCluster{
		Name: name, Context: guard.ContextName(p.Name), Network: "k3d-" + name, K3sImage: s.Cluster.K3sImage,
		Servers: s.Cluster.Servers, Agents: s.Cluster.Agents, LoadBalancer: o.WithLoadBalancer(), K3sArgs: cluster.K3sArgs(),
		Kubeconfig: filepath.Join(p.StateDir, "kubeconfig"),
		Marker:     guard.MarkerNamespace + "/" + guard.MarkerName + " (data.uuid = the sandbox UUID)",
	}
	p.Images = planImages(bringup.FullImages(p.Name, s))
	for _, cp := range o.Ports() {
		p.Ports = append(p.Ports, PlanPort{Name: cp.Name, HostIP: cp.HostIP, HostPort: cp.HostPort, Target: cp.Target})
	}
	p.Charts = charts.Pinned()
	p.Releases = bringup.FullReleases(s)

	p.Steps = nil
	for _, st := range bringup.FullSteps(p.Name, s, false) {
		p.Steps = append(p.Steps, st.Name)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Text renders the plan for people.
func (p *Plan) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for sandbox %q (profile %s, dry run: nothing was touched)\n", p.Name, p.Profile)
	if p.Note != "" {
		fmt.Fprintf(&b, "Note: %s\n", p.Note)
	}
	fmt.Fprintf(&b, "Apps: %s\nState: %s\n", strings.Join(p.Apps, ", "), p.StateDir)
	if c := p.Cluster; c != nil {
		lb := "no load balancer"
		if c.LoadBalancer {
			lb = "load balancer"
		}
		fmt.Fprintf(&b, "\nCluster:\n  k3d %s (context %s, network %s)\n  %s, %s, k3s %s\n  k3s args: %s\n  kubeconfig: %s\n  marker: %s\n",
			c.Name, c.Context, c.Network, plural(c.Servers, "server")+", "+plural(c.Agents, "agent"), lb, c.K3sImage,
			strings.Join(c.K3sArgs, " "), c.Kubeconfig, c.Marker)
	}
	if d := p.Docker; d != nil {
		fmt.Fprintf(&b, "\nDocker:\n  network %s\n  volumes %s\n", d.Network, strings.Join(d.Volumes, ", "))
		for _, c := range d.Containers {
			fmt.Fprintf(&b, "  container %s: %s, volume %s at %s\n", c.Name, c.Image, c.Volume, c.Mount)
		}
	}
	b.WriteString("\nImages:\n")
	for _, im := range p.Images {
		fmt.Fprintf(&b, "  %-24s %s\n", im.Component, im.Ref)
	}
	if len(p.Charts) > 0 {
		b.WriteString("\nCharts:\n")
		for _, c := range p.Charts {
			fmt.Fprintf(&b, "  %-24s %-8s %s\n", c.Name, c.Version, c.Source())
		}
	}
	if len(p.Releases) > 0 {
		b.WriteString("\nReleases:\n")
		for _, r := range p.Releases {
			fmt.Fprintf(&b, "  %-46s %s %s: %s\n", r.Namespace+"/"+r.Name, r.Chart.Name, r.Chart.Version, r.Purpose)
		}
	}
	b.WriteString("\nPorts (127.0.0.1):\n")
	for _, pt := range p.Ports {
		hp := "auto"
		if pt.HostPort != 0 {
			hp = strconv.Itoa(pt.HostPort)
		}
		fmt.Fprintf(&b, "  %-10s %s:%-5s -> %s\n", pt.Name, pt.HostIP, hp, pt.Target)
	}
	b.WriteString("\nSteps:\n")
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, s)
	}
	return b.String()
}

// PlanUp is the plan of NewUp(cfg, opts).Run, computed without running it: the same
// profile override, the state dir under the same root (not created).
func PlanUp(getenv func(string) string, opts UpOptions) (*Plan, error) {
	// --vms, as Up takes it (an existing sandbox's own VM count is state, not shown).
	spec, err := opts.effectiveSpec()
	if err != nil {
		return nil, err
	}
	root, err := state.StateRoot(getenv)
	if err != nil {
		return nil, err
	}
	return NewPlan(PlanOptions{Name: opts.Name, Spec: spec, StateDir: filepath.Join(root, opts.Name)})
}

// planImages lists images as the plan shows them.
func planImages(wants []bundle.Want) []PlanImage {
	out := make([]PlanImage, 0, len(wants))
	for _, w := range wants {
		out = append(out, PlanImage{Component: w.Component, Ref: w.Ref})
	}
	return out
}
