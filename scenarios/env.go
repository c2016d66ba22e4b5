package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/sandbox/vm"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/scenarios/report"
)

// Env is what a scenario works on: the sandbox's Vault, Docker objects and Postgres,
// all reached through guard approvals, and the consumer whose view the drill checks.
type Env struct {
	State    *state.State
	Vault    *connect.VaultSession
	Docker   *docker.Runtime
	PGAdmin  postgres.Endpoint
	Consumer *Consumer
	// VMs runs the sandbox's arm64 VMs; nil when it has none.
	VMs *vm.Manager
	// Apps observes VSO and the demo apps (full profile); nil on the vault profile.
	Apps AppSide
	// Cluster powers the k3d cluster off and on (full profile); nil on the vault
	// profile.
	Cluster ClusterPower
	// appsBefore is the apps' side in the steady state of the running scenario.
	appsBefore map[string]vso.AppState

	cfg        *sandbox.Configuration
	conn       *connect.Conn
	mu         sync.Mutex
	milestones []Milestone
	// checks are the running scenario's checks (a matrix drill's last try).
	checks []report.Check
	// probes are a drill file's probe outcomes, the last try of each phase; outputs
	// what its commands printed.
	probes  []report.ProbeResult
	outputs []report.CommandOutput
	// secrets are redacted from every output, error and detail the report holds.
	secrets []string
	now     func() time.Time
	// timeout is the drill run's timeout (0 outside a run: drill recover).
	timeout time.Duration
}

// Timeout is the drill's timeout (--timeout, else spec.drills.timeout, else
// DefaultTimeout), which bounds each polled phase, the steady state, and every command
// a drill file runs without a timeout of its own; 0 outside a drill run (`labsbx drill
// recover`).
func (e *Env) Timeout() time.Duration { return e.timeout }

// Milestone is a timestamped point of a recovery ("vault unsealed").
type Milestone struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// Mark records a milestone now.
func (e *Env) Mark(name string) { e.MarkAt(name, e.now()) }

// MarkAt records a milestone at a given time.
func (e *Env) MarkAt(name string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.milestones = append(e.milestones, Milestone{Name: name, At: at})
}

func (e *Env) takeMilestones() []Milestone {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.milestones
	e.milestones = nil // they belong to one scenario run
	return m
}

// SetChecks replaces the running scenario's checks: a polled step reports its last
// try.
func (e *Env) SetChecks(cs []report.Check) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks = cs
}

// SetProbes replaces phase's probe outcomes: a polled phase reports its last try.
func (e *Env) SetProbes(phase string, ps []report.ProbeResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := e.probes[:0:0]
	for _, p := range e.probes {
		if p.Phase != phase {
			kept = append(kept, p)
		}
	}
	e.probes = append(kept, ps...)
}

func (e *Env) AddOutput(o report.CommandOutput) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs = append(e.outputs, o)
}

// takeFileResults returns the running scenario's probes and outputs, and forgets them.
func (e *Env) takeFileResults() ([]report.ProbeResult, []report.CommandOutput) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps, os := e.probes, e.outputs
	e.probes, e.outputs = nil, nil
	return ps, os
}

func (e *Env) takeChecks() []report.Check {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.checks
	e.checks = nil // they belong to one scenario run
	return cs
}

// NewEnv opens the sandbox's components for drills. A sealed Vault is fine: it is
// approved pending its cluster_id, which unseal verifies.
func NewEnv(ctx context.Context, cfg *sandbox.Configuration, st *state.State) (*Env, error) {
	conn := connect.New(st, cfg.Getenv)
	e, err := newEnv(ctx, cfg, conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return e, nil
}

func newEnv(ctx context.Context, cfg *sandbox.Configuration, conn *connect.Conn) (*Env, error) {
	st := conn.State()
	// A Vault container that is just starting does not answer yet: wait a little.
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sess, err := wait.Retry(wctx, 100*time.Millisecond, func() (*connect.VaultSession, error) {
		return conn.Vault(wctx)
	})
	if err != nil {
		return nil, err
	}
	rt, err := conn.Docker(ctx)
	if err != nil {
		return nil, err
	}
	sec, err := st.PostgresSecrets()
	if err != nil {
		return nil, err
	}
	pgAdmin, err := conn.PostgresAdmin(sec)
	if err != nil {
		return nil, err
	}
	e := &Env{State: st, Vault: sess, Docker: rt, PGAdmin: pgAdmin, now: time.Now,
		cfg: cfg, conn: conn}
	if len(st.VMs) > 0 {
		e.VMs = conn.VMs(cfg.Logger())
	}
	if cfg.Now != nil {
		e.now = cfg.Now
	}
	e.Consumer = &Consumer{env: e, App: st.Spec.Apps[0]}
	e.knownSecrets()
	if st.Profile == config.ProfileFull {
		if e.Apps, err = appSide(ctx, conn); err == nil {
			e.Cluster, err = NewClusterPower(cfg, st)
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// NewFakeEnv is an Env over a sandbox state alone, for the unit tests of scenarios:
// no component is open; apps is the apps' side (nil: the vault profile), now the
// clock, and appsBefore the apps' steady state.
func NewFakeEnv(st *state.State, apps AppSide, now func() time.Time, appsBefore map[string]vso.AppState) *Env {
	return &Env{State: st, Apps: apps, now: now, appsBefore: appsBefore}
}

// ClusterPower stops and starts the whole cluster (cluster.Provider).
type ClusterPower interface {
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// NewClusterPower is the sandbox's cluster provider, on the guard-approved engine.
func NewClusterPower(cfg *sandbox.Configuration, st *state.State) (ClusterPower, error) {
	if cfg.Clusters == nil {
		return nil, fmt.Errorf("%w: this build has no cluster provider for sandbox %q", sandbox.ErrProfileUnavailable, st.Name)
	}
	appr, err := guard.ApproveDocker(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	return cfg.Clusters(appr, st.Name, st.UUID, cluster.HelpersOf(st.Spec.Cluster))
}

// appSide connects to the sandbox's cluster through the guard (recorded kubeconfig,
// server and CA, then the marker) and observes VSO and the apps there.
func appSide(ctx context.Context, conn *connect.Conn) (AppSide, error) {
	// The marker exists since up: the connection checks its UUID, which unlocks it.
	k, _, err := conn.Kube(ctx)
	if err != nil {
		return nil, err
	}
	return vso.New(k)
}

// Close releases connections.
func (e *Env) Close() error { return e.conn.Close() }

// Admin runs fn on a superuser connection to the sandbox's Postgres.
func (e *Env) Admin(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := postgres.Connect(ctx, e.PGAdmin)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(c)
}

// Consumer is the app's runtime identity: a token with policy <app>, reading
// postgres/creds/<app> and connecting to Postgres with what it gets — what VSO and the
// app do in the full profile.
type Consumer struct {
	App string
	env *Env

	token string
	Lease string
	User  string
	pass  string
}

// String names the consumer without its token or password (for %v and %+v).
func (c *Consumer) String() string { return fmt.Sprintf("consumer of app %s as %s", c.App, c.User) }

// GoString is String, for %#v.
func (c *Consumer) GoString() string { return c.String() }

// Login obtains the runtime token. In the vault profile there is no cluster to log in
// from, so the root token issues it, as kubernetes/ auth would.
func (c *Consumer) Login(ctx context.Context) error {
	s, err := c.env.Vault.Root().Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies: []string{vault.RuntimePolicy(c.App)}, TTL: "1h", DisplayName: "drill-" + c.App,
	})
	if err != nil {
		return fmt.Errorf("login as %s: %w", c.App, err)
	}
	c.token = s.Auth.ClientToken
	c.env.AddSecret(c.token)
	return nil
}

func (c *Consumer) client() (*api.Client, error) {
	if c.token == "" {
		return nil, errors.New("consumer has not logged in")
	}
	return c.env.Vault.NewClient(c.token)
}

// Fetch reads new credentials, logging in first if needed.
func (c *Consumer) Fetch(ctx context.Context) error {
	if c.token == "" {
		if err := c.Login(ctx); err != nil {
			return err
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	s, err := cl.Logical().ReadWithContext(ctx, vault.CredsPath(c.App))
	if err != nil {
		return fmt.Errorf("read %s: %w", vault.CredsPath(c.App), err)
	}
	if s == nil {
		return fmt.Errorf("read %s: no credentials", vault.CredsPath(c.App))
	}
	user, _ := s.Data["username"].(string)
	pass, _ := s.Data["password"].(string)
	if user == "" || pass == "" || s.LeaseID == "" {
		return fmt.Errorf("read %s: incomplete credentials", vault.CredsPath(c.App))
	}
	c.Lease, c.User, c.pass = s.LeaseID, user, pass
	c.env.AddSecret(pass)
	return nil
}

// Endpoint is the consumer's view of Postgres, with its current credentials.
func (c *Consumer) Endpoint() postgres.Endpoint {
	ep := c.env.PGAdmin
	ep.User, ep.Password = c.User, c.pass
	return ep
}

// Connect connects with the current credentials and checks they carry <app>_role.
func (c *Consumer) Connect(ctx context.Context) error {
	if c.User == "" {
		return errors.New("consumer holds no credentials")
	}
	conn, err := postgres.Connect(ctx, c.Endpoint())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	ok, err := postgres.MemberOf(ctx, conn, c.User, postgres.AppRole(c.App))
	if err != nil {
		return fmt.Errorf("check role of %s: %w", c.User, err)
	}
	if !ok {
		return fmt.Errorf("user %s is not a member of %s", c.User, postgres.AppRole(c.App))
	}
	return nil
}

// Renew renews the current lease.
func (c *Consumer) Renew(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if _, err := cl.Sys().RenewWithContext(ctx, c.Lease, 0); err != nil {
		return fmt.Errorf("renew lease of %s: %w", c.User, err)
	}
	return nil
}

// Works fetches new credentials and connects with them: the steady state of every drill.
func (c *Consumer) Works(ctx context.Context) error {
	if err := c.Fetch(ctx); err != nil {
		return err
	}
	return c.Connect(ctx)
}

// ExpectSealed returns nil when err says Vault is sealed.
func ExpectSealed(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%s still works", what)
	}
	if !vault.IsSealedErr(err) {
		return fmt.Errorf("%s fails, but not because Vault is sealed: %w", what, err)
	}
	return nil
}

// MarkOnce records a milestone unless it was recorded already.
func (e *Env) MarkOnce(name string) {
	e.mu.Lock()
	for _, m := range e.milestones {
		if m.Name == name {
			e.mu.Unlock()
			return
		}
	}
	e.mu.Unlock()
	e.Mark(name)
}

// MarkOnceAt records a milestone at a given time unless it was recorded already.
func (e *Env) MarkOnceAt(name string, at time.Time) {
	for _, m := range e.Milestones() {
		if m.Name == name {
			return
		}
	}
	e.MarkAt(name, at)
}

// MilestoneAt is when the milestone name was first recorded (zero if never).
func (e *Env) MilestoneAt(name string) time.Time {
	for _, m := range e.Milestones() {
		if m.Name == name {
			return m.At
		}
	}
	return time.Time{}
}

// Milestones are the running scenario's milestones so far.
func (e *Env) Milestones() []Milestone {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Milestone(nil), e.milestones...)
}

// Now is the drill's clock.
func (e *Env) Now() time.Time { return e.now() }

// AppsBefore are the apps' states in the steady state of the running scenario (full
// profile; nil on the vault profile).
func (e *Env) AppsBefore() map[string]vso.AppState { return e.appsBefore }

// Config is the configuration the drill runs with (its environment, store and clock).
func (e *Env) Config() *sandbox.Configuration { return e.cfg }

// Conn is the guard-approved connection to the sandbox's components.
func (e *Env) Conn() *connect.Conn { return e.conn }

// NewConsumer is a consumer of app that has not logged in yet.
func (e *Env) NewConsumer(app string) *Consumer { return &Consumer{env: e, App: app} }

// SaveState writes the sandbox state (a VM's new port, for one).
func (e *Env) SaveState() error { return e.cfg.Store.Save(e.State, e.cfg.Clock()) }
