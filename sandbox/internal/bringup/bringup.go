// Package bringup is what `labsbx up` does: plain, ordered lists of named steps per
// profile (VaultSteps, FullSteps), which Run executes and `up --dry-run` prints, so
// that the plan and the run cannot drift apart. Every step is idempotent: an up that
// was interrupted anywhere converges when it runs again.
package bringup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/helmx"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/vmimages"
)

// Progress reports steps to a person (the CLI prints them on stderr).
type Progress interface {
	Step(msg string, fn func() error) error
	Infof(format string, args ...any)
}

// Config is what bring-up needs of the sandbox's configuration.
type Config struct {
	Store    *state.Store
	Progress Progress
	Log      *slog.Logger
	Getenv   func(string) string
	Now      func() time.Time
	// Clusters makes the full profile's cluster provider (k3d); nil without one.
	Clusters cluster.Providers
	// WriteScope is what the write guard needs to judge a file labsbx writes outside
	// the state dir (the Postgres data template in the cache).
	WriteScope guard.WriteScope
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (c *Config) progress() Progress {
	if c.Progress != nil {
		return c.Progress
	}
	return NopProgress{}
}

// NopProgress reports nothing.
type NopProgress struct{}

func (NopProgress) Step(_ string, fn func() error) error { return fn() }
func (NopProgress) Infof(string, ...any)                 {}

// Result is what a bring-up did and where the sandbox answers.
type Result struct {
	VaultAddr string
	Postgres  string
	VMs       []VMSummary
	Changes   []string
	Steps     []StepTiming
}

// StepTiming is how long one bring-up step took.
type StepTiming struct {
	Name       string `json:"name"`
	DurationMs int64  `json:"durationMs"`
}

// Step is one named bring-up step.
type Step struct {
	Name string
	Run  func(ctx context.Context, p *Context) error
}

// Context is what the steps of one run share: the configuration, the sandbox's state
// and its guard-approved connections, and what earlier steps found or made.
type Context struct {
	cfg  *Config
	st   *state.State
	res  *Result
	conn *connect.Conn
	// bundle, when set, is where images come from (`up --bundle`).
	bundle *bundle.Bundle
	// vaultWait is how long a starting Vault may take to answer.
	vaultWait time.Duration

	dockerOK guard.DockerApproval
	rt       *docker.Runtime
	pgSec    *state.PostgresSecrets
	pgAdmin  postgres.Endpoint  // the superuser, through the guard's proven dialer
	pgAction string             // what postgresStep did to the container (docker.Container*)
	pgStart  chan pgStarted     // the start of Postgres's container under way (postgresStep)
	pgTmpl   guard.FileApproval // the Postgres data template a new volume starts from (zero: initdb)
	vs       *connect.VaultSession
	vmImg    *vmimages.Image
	// restoreVault, when set, is the storage a new Vault container starts on
	// (RestoreVault).
	restoreVault *docker.Archive

	// The full profile's cluster and its clients.
	clusters cluster.Provider
	kube     *guard.Kube
	cs       kubernetes.Interface
	helm     *helmx.Client
}

// New prepares a run on the sandbox st; res receives what it does. b, when not nil,
// is the offline bundle images and charts come from.
func New(cfg *Config, st *state.State, b *bundle.Bundle, res *Result) (*Context, error) {
	appr, err := guard.ApproveDocker(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	p := &Context{cfg: cfg, st: st, res: res, conn: connect.New(st, cfg.Getenv), bundle: b, vaultWait: time.Minute, dockerOK: appr}
	if st.Profile == config.ProfileFull {
		// Vault is a pod there: its first start includes scheduling it.
		p.vaultWait = podsTimeout
	}
	return p, nil
}

func (p *Context) change(s string) { p.res.Changes = append(p.res.Changes, s) }

// Steps are the bring-up steps of the sandbox name with spec, in order; hadVMs says
// whether VMs are recorded (a spec without VMs then removes them).
func Steps(name string, spec config.Spec, hadVMs bool) []Step {
	if spec.Profile == config.ProfileFull {
		return FullSteps(name, spec, hadVMs)
	}
	return VaultSteps(name, spec, hadVMs)
}

// VaultSteps are the vault profile's steps: Postgres and Vault as containers, Vault's
// init and unseal while Postgres starts, Postgres's roles, the bootstrap, then the VMs.
func VaultSteps(name string, spec config.Spec, hadVMs bool) []Step {
	s := []Step{
		{"Checking the Docker engine", dockerEngine},
		{"Ensuring images", images},
		{"Creating network labsbx-" + name, network},
		{"Preparing the Postgres data template (once per image, kept in labsbx's cache)", pgTemplate},
		{"Starting Postgres (it comes up while Vault does)", postgresStep},
		{"Starting Vault", vaultStep},
		{"Initialising and unsealing Vault", initUnseal},
		{"Waiting for Postgres and preparing its roles", postgresRoles},
		{"Bootstrapping the Vault layout", bootstrap},
	}
	return append(s, VMSteps(spec, hadVMs)...)
}

// FullSteps are the full profile's steps, one per release: the k3d cluster, its
// kubeconfig and marker, the images, the Postgres Secret and chart, the Vault chart
// and its init, unseal and bootstrap, VSO, the apps, then the VMs.
func FullSteps(name string, spec config.Spec, hadVMs bool) []Step {
	var refs []string
	for _, w := range FullImages(name, spec) {
		refs = append(refs, w.Ref)
	}
	servers := plural(spec.Cluster.Servers, "server")
	if spec.Cluster.Agents > 0 {
		servers += ", " + plural(spec.Cluster.Agents, "agent")
	}
	s := []Step{
		{"Checking the Docker engine", fullDockerEngine},
		{"Ensuring images (" + strings.Join(refs, ", ") + ")", fullImagesStep},
		{"Creating k3d cluster " + cluster.Name(name) + " (" + servers + "; API, Vault and Postgres on 127.0.0.1)", clusterStep},
		{"Writing the kubeconfig into the sandbox state (~/.kube/config untouched)", kubeconfig},
		{"Approving context " + guard.ContextName(name) + " and writing marker " + guard.MarkerNamespace + "/" + guard.MarkerName, marker},
		{"Importing the Postgres, Vault, VSO and k3s system images into the cluster (its nodes may not pull)", importImages},
		{"Creating Secret " + config.NamespacePostgres + "/" + PostgresAuthSecret + " from the sandbox state", postgresSecret},
	}
	var apps []Step
	for _, r := range FullReleases(spec) {
		st := Step{releaseStep(r), release(r)}
		switch r.Chart.Name {
		case charts.Postgres:
			s = append(s, st, Step{"Waiting for Postgres and its roles Job", waitPostgres})
		case charts.Vault:
			s = append(s, st,
				Step{"Waiting for Vault's pod to run the release's spec (a replaced pod starts sealed)", waitVault},
				Step{"Initialising and unsealing Vault", initUnseal},
				Step{"Bootstrapping the Vault layout (kubernetes auth in the cluster, database via " + postgresServiceHost + ")", fullBootstrap})
		case charts.DemoApp:
			apps = append(apps, st)
		default:
			s = append(s, st)
		}
	}
	s = append(s, apps...)
	s = append(s, Step{"Waiting for the apps to be ready (" + strings.Join(spec.Apps, ", ") + "): their credentials from VSO connect to Postgres", waitApps})
	return append(s, VMSteps(spec, hadVMs)...)
}

// VMSteps are the VM steps that both profiles end with.
func VMSteps(spec config.Spec, hadVMs bool) []Step {
	switch n := spec.VMs.Count; {
	case n > 0:
		return []Step{
			{"Ensuring VM image " + spec.VMs.Image, vmImage},
			{fmt.Sprintf("Starting %d arm64 VMs", n), vms},
		}
	case hadVMs:
		return []Step{{"Removing the arm64 VMs", vms}}
	}
	return nil
}

// Run runs the steps in order, timing each and saving the state after each.
func Run(ctx context.Context, p *Context, steps []Step) error {
	defer p.conn.Close()
	defer func() {
		// A run that stops early still waits for a container start under way.
		if p.pgStart != nil {
			<-p.pgStart
		}
	}()
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		err := p.cfg.progress().Step(s.Name, func() error { return s.Run(ctx, p) })
		p.res.Steps = append(p.res.Steps, StepTiming{Name: s.Name, DurationMs: time.Since(t0).Milliseconds()})
		if err != nil {
			return err
		}
		if err := p.cfg.Store.Save(p.st, p.cfg.now()); err != nil {
			return err
		}
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
