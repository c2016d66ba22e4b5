package bringup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/failpoint"
	"github.com/arcodange/labsbx/internal/netx"
	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// Components of the vault profile, as their dev.labsbx.component labels say.
const (
	ComponentPostgres = connect.ComponentPostgres
	ComponentVault    = connect.ComponentVault
)

// Ports inside the containers.
const (
	vaultPort    = connect.VaultPort
	postgresPort = connect.PostgresPort
)

// vaultServerConfig is a real (not dev-mode) server: file storage on a named volume.
const vaultServerConfig = `# written by labsbx
storage "file" {
  path = "/vault/file"
}
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}
disable_mlock = true
api_addr      = "http://127.0.0.1:8200"
ui            = false
`

const vaultConfigPath = "/vault/config/labsbx.hcl"

// dockerEngine connects to the approved engine and checks, or on the first run
// records, its identity: a sandbox lives on the engine it was created on.
func dockerEngine(ctx context.Context, p *Context) error {
	var err error
	if p.rt, err = p.conn.Docker(ctx); err != nil {
		return err
	}
	id, err := p.rt.EngineID(ctx)
	if err != nil {
		return err
	}
	if p.st.EngineID == "" || guard.LegacyEngineID(p.st.EngineID, id) {
		p.st.EngineID = id
		return p.cfg.Store.Save(p.st, p.cfg.now())
	}
	return nil
}

func images(ctx context.Context, p *Context) error {
	if p.bundle != nil {
		loaded, err := p.bundle.LoadImages(ctx, p.rt, []bundle.Want{
			{Component: ComponentPostgres, Ref: p.st.Spec.Postgres.Image},
			{Component: ComponentVault, Ref: p.st.Spec.Vault.Image},
		})
		for _, l := range loaded {
			p.cfg.log().Info("image", "ref", l.Ref, "state", l.Action, "bundle", p.bundle.Dir)
			if l.Action == "loaded" {
				p.change("loaded image " + l.Ref + " from the bundle")
			}
		}
		return err
	}
	for _, ref := range []string{p.st.Spec.Postgres.Image, p.st.Spec.Vault.Image} {
		state, err := p.rt.EnsureImage(ctx, ref)
		if err != nil {
			return err
		}
		p.cfg.progress().Infof("Image %s: %s", ref, state)
	}
	return nil
}

func network(ctx context.Context, p *Context) error {
	if p.st.Docker == nil {
		p.st.Docker = &state.DockerState{}
	}
	created, err := p.rt.EnsureNetwork(ctx)
	if err != nil {
		return err
	}
	p.st.Docker.Network = p.rt.NetworkName()
	if created {
		p.change("created network " + p.rt.NetworkName())
	}
	return nil
}

func postgresStep(ctx context.Context, p *Context) error {
	sec, err := p.st.PostgresSecrets()
	if errors.Is(err, state.ErrNoPostgresSecrets) {
		// Passwords are made only before Postgres exists: a volume may hold a database
		// set up with the lost ones.
		exists, verr := p.rt.VolumeExists(ctx, ComponentPostgres)
		switch {
		case verr != nil:
			return verr
		case !exists:
			sec, err = p.st.CreatePostgresSecrets()
		}
	}
	if err != nil {
		return err
	}
	p.pgSec = sec
	if p.st.Docker.PostgresFromTemplate {
		// An up stopped before the template's superuser had the sandbox's password:
		// that volume holds nothing but the template. Start afresh.
		if err := p.rt.RemoveComponent(ctx, ComponentPostgres); err != nil {
			return err
		}
		p.st.Docker.PostgresFromTemplate = false
	}
	vol, created, err := p.rt.EnsureVolume(ctx, ComponentPostgres)
	if err != nil {
		return err
	}
	spec := docker.ContainerSpec{
		Component: ComponentPostgres,
		Image:     p.st.Spec.Postgres.Image,
		Env:       []string{"POSTGRES_USER=postgres", "POSTGRES_PASSWORD=" + sec.SuperuserPassword, "POSTGRES_DB=postgres"},
		Volumes:   map[string]string{vol: pgDataDir},
	}
	var tmpl io.ReadCloser
	if created {
		p.change("created volume " + vol)
		if p.pgTmpl.Path() != "" {
			if tmpl, err = p.pgTmpl.Open(); err != nil {
				return err
			}
			spec.Restore = &docker.Archive{Dir: filepath.Dir(pgDataDir), Tar: tmpl, KeepOwners: true}
			p.st.Docker.PostgresFromTemplate = true
		}
	}
	if p.st.Docker.PostgresPort == 0 {
		if p.st.Docker.PostgresPort, err = netx.FreePort(); err != nil {
			return errors.Join(err, closeNil(tmpl))
		}
	}
	spec.Ports = map[int]int{postgresPort: p.st.Docker.PostgresPort}
	// Record the port (a resumed up reuses it) and a template's volume (a resumed up
	// starts it afresh) before the container exists.
	if err := p.cfg.Store.Save(p.st, p.cfg.now()); err != nil {
		return errors.Join(err, closeNil(tmpl))
	}
	// The container is made and started while Vault's steps run (filling the volume
	// from the template is most of it); postgresReady takes the outcome. Only the
	// Docker client is shared: the state is not touched until then.
	done := make(chan pgStarted, 1)
	p.pgStart = done
	go func() {
		id, action, err := p.rt.EnsureContainer(ctx, spec)
		done <- pgStarted{id, action, errors.Join(err, closeNil(tmpl))}
	}()
	return nil
}

// pgStarted is what the start of Postgres's container came to.
type pgStarted struct {
	id, action string
	err        error
}

// closeNil closes c unless it is nil or closed already (the Docker client closes the
// tar it copied).
func closeNil(c io.Closer) error {
	if c == nil {
		return nil
	}
	if err := c.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// postgresStarted waits for the container start that postgresStep began, and
// records it.
func postgresStarted(p *Context) error {
	if p.pgStart == nil {
		return errors.New("postgres: no start of its container is under way")
	}
	r := <-p.pgStart
	p.pgStart = nil
	if r.err != nil {
		return r.err
	}
	p.setContainer(ComponentPostgres, r.id)
	p.containerChange(ComponentPostgres, r.action)
	p.pgAction = r.action
	var err error
	p.pgAdmin, err = p.conn.PostgresAdmin(p.pgSec)
	return err
}

// postgresReady waits until the Postgres that postgresStep started answers. It runs
// after Vault's start, init and unseal: Postgres's start and Vault's take their time
// side by side, not one after the other.
func postgresReady(ctx context.Context, p *Context) error {
	if err := postgresStarted(p); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if p.st.Docker.PostgresFromTemplate {
		if err := keyPostgres(wctx, p); err != nil {
			return err
		}
	}
	err := postgres.WaitReady(wctx, p.pgAdmin, 50*time.Millisecond)
	if err != nil && p.pgAction == docker.ContainerRecreated {
		return fmt.Errorf("%w; Postgres was recreated on image %s over the data of the old one, and a new major version cannot read an older data directory: go back to the old image, or run `labsbx down` then `labsbx up` to start afresh (see `docker logs %s`)",
			err, p.st.Spec.Postgres.Image, p.rt.ObjectName(ComponentPostgres))
	}
	return err
}

func (p *Context) containerChange(component, action string) {
	switch action {
	case docker.ContainerCreated:
		p.change("created container " + p.rt.ObjectName(component))
	case docker.ContainerRecreated:
		p.change("recreated container " + p.rt.ObjectName(component) + " on its new image (volume kept)")
	}
}

func (p *Context) setContainer(component, id string) {
	if p.st.Docker.Containers == nil {
		p.st.Docker.Containers = map[string]string{}
	}
	p.st.Docker.Containers[component] = id
}

func postgresRoles(ctx context.Context, p *Context) error {
	if err := postgresReady(ctx, p); err != nil {
		return err
	}
	c, err := postgres.Connect(ctx, p.pgAdmin)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	changed, err := postgres.EnsureVaultAdmin(ctx, c, p.pgSec.VaultAdminPassword)
	if err != nil {
		return err
	}
	if changed {
		p.change("postgres: role " + postgres.VaultAdmin)
	}
	for _, app := range p.st.Spec.Apps {
		changed, err := postgres.EnsureApp(ctx, c, app)
		if err != nil {
			return err
		}
		if changed {
			p.change("postgres: role " + postgres.AppRole(app) + " and schema " + app)
		}
	}
	return nil
}

func vaultStep(ctx context.Context, p *Context) error {
	vol, created, err := p.rt.EnsureVolume(ctx, ComponentVault)
	if err != nil {
		return err
	}
	if created {
		p.change("created volume " + vol)
	}
	if p.st.Vault == nil || p.st.Vault.Addr == "" {
		port, err := netx.FreePort()
		if err != nil {
			return err
		}
		p.st.Vault = &state.VaultState{Addr: "http://127.0.0.1:" + strconv.Itoa(port)}
		if err := p.cfg.Store.Save(p.st, p.cfg.now()); err != nil {
			return err
		}
	}
	port, err := addrPort(p.st.Vault.Addr)
	if err != nil {
		return err
	}
	id, action, err := p.rt.EnsureContainer(ctx, docker.ContainerSpec{
		Component:  ComponentVault,
		Image:      p.st.Spec.Vault.Image,
		Entrypoint: []string{"/bin/vault"},
		Cmd:        []string{"server", "-config=" + vaultConfigPath},
		Env:        []string{"SKIP_SETCAP=true", "VAULT_LOG_FORMAT=standard"},
		Ports:      map[int]int{vaultPort: port},
		Volumes:    map[string]string{vol: VaultDataDir},
		Files:      map[string][]byte{strings.TrimPrefix(vaultConfigPath, "/"): []byte(vaultServerConfig)},
		Restore:    p.restoreVault,
	})
	if err != nil {
		return err
	}
	p.setContainer(ComponentVault, id)
	p.st.Vault.ContainerID = id
	p.containerChange(ComponentVault, action)
	p.res.VaultAddr = p.st.Vault.Addr
	return nil
}

func addrPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		return 0, fmt.Errorf("recorded Vault address %q: %w", addr, err)
	}
	return strconv.Atoi(port)
}

func initUnseal(ctx context.Context, p *Context) error {
	wctx, cancel := context.WithTimeout(ctx, cmp.Or(p.vaultWait, time.Minute))
	defer cancel()
	if p.st.Vault.ClusterID == "" {
		initialise := func() (string, error) { return EnsureInitialised(wctx, p.cfg, p.conn) }
		changed, err := wait.Retry(wctx, 100*time.Millisecond, initialise)
		if errors.Is(err, ErrVaultUnkeyed) {
			// Killed between Vault's init and the save of its key: nobody can ever
			// unseal it, and nothing was ever stored in it (labsbx bootstraps only a
			// Vault whose cluster_id it recorded). Start it afresh.
			if p.st.Profile != config.ProfileVault {
				return fmt.Errorf("%w: remove the sandbox with `labsbx down --name %s`, then run `labsbx up --name %s` again", err, p.st.Name, p.st.Name)
			}
			if err := p.resetVault(ctx); err != nil {
				return err
			}
			changed, err = wait.Retry(wctx, 100*time.Millisecond, initialise)
		}
		if err != nil {
			return err
		}
		p.change(changed)
	}
	sess, err := wait.Retry(wctx, 100*time.Millisecond, func() (*connect.VaultSession, error) {
		return p.conn.Vault(wctx)
	})
	if err != nil {
		return err
	}
	before, err := sess.Status(ctx)
	if err != nil {
		return err
	}
	if _, err := sess.Unseal(ctx); err != nil {
		return err
	}
	if before.Sealed {
		p.change("unsealed Vault")
	}
	p.vs = sess
	return nil
}

// VaultDataDir is where the vault profile's Vault keeps its storage (a named volume).
const VaultDataDir = "/vault/file"

// RestoreVault recreates the vault profile's Vault container and its volume, as up
// makes them, with storage (a tar of VaultDataDir, as docker.Runtime.Archive gives
// it) unpacked into the volume before Vault first starts; the state records the new
// container. It neither initialises nor unseals: the caller unseals with the key of
// the backup, which checks that the Vault that opens has the recorded cluster_id. The
// caller holds the sandbox lock.
func RestoreVault(ctx context.Context, cfg *Config, st *state.State, storage io.Reader) ([]string, error) {
	if st.Profile != config.ProfileVault {
		return nil, fmt.Errorf("restoring Vault's storage from a backup is built for the vault profile; sandbox %q has the %s profile", st.Name, st.Profile)
	}
	return operation(ctx, cfg, st, func(p *Context) error {
		if info, ok, err := p.rt.Inspect(ctx, ComponentVault); err != nil || ok {
			return errors.Join(err, fmt.Errorf("container %s exists (running: %v): restore only replaces a Vault that is gone", p.rt.ObjectName(ComponentVault), info.Running))
		}
		p.restoreVault = &docker.Archive{Dir: filepath.Dir(VaultDataDir), Tar: storage}
		if err := vaultStep(ctx, p); err != nil {
			return err
		}
		failpoint.Hit("vault-restored") // restored and started, the new container not yet recorded
		return nil
	})
}

// resetVault removes the Vault container and its volume (the guard's removal rule:
// this sandbox's UUID) and starts them afresh.
func (p *Context) resetVault(ctx context.Context) error {
	if err := p.rt.RemoveComponent(ctx, ComponentVault); err != nil {
		return err
	}
	p.change("removed a Vault whose unseal key an interrupted up never saved")
	p.st.Vault.ContainerID = ""
	return vaultStep(ctx, p)
}

func bootstrap(ctx context.Context, p *Context) error {
	layout, err := VaultLayout(p.st, p.pgSec, nil)
	if err != nil {
		return err
	}
	changes, err := vault.Bootstrap(ctx, p.vs.Root(), layout)
	for _, c := range changes {
		p.change("vault: " + c.String())
	}
	if err != nil {
		return err
	}
	p.res.Postgres = p.st.PostgresAdminEndpoint(p.pgSec).String()
	return nil
}

// VaultLayout is the bootstrap layout of this sandbox: its apps, Vault's route to
// Postgres, the lease TTLs and the CI signing key.
func VaultLayout(s *state.State, sec *state.PostgresSecrets, k8s *vault.KubernetesAuth) (vault.Layout, error) {
	kp, err := s.CISigningKeyPath()
	if err != nil {
		return vault.Layout{}, err
	}
	key, _, err := vault.LoadOrCreateSigningKey(kp)
	if err != nil {
		return vault.Layout{}, err
	}
	pub, err := vault.PublicKeyPEM(key)
	if err != nil {
		return vault.Layout{}, err
	}
	return vault.Layout{
		Apps:            s.Spec.Apps,
		Database:        vaultDatabase(s, sec),
		DefaultTTL:      s.Spec.Drills.DefaultTTL.Duration,
		MaxTTL:          s.Spec.Drills.MaxTTL.Duration,
		JWTPublicKeyPEM: pub,
		Kubernetes:      k8s,
	}, nil
}

// vaultDatabase is how Vault (not labsbx) reaches Postgres: over the sandbox network
// by its alias (vault profile), or by its Service in the cluster (full profile).
func vaultDatabase(s *state.State, sec *state.PostgresSecrets) postgres.Endpoint {
	host := ComponentPostgres
	if s.Profile == config.ProfileFull {
		host = postgresServiceHost
	}
	return postgres.Endpoint{Host: host, Port: postgresPort, User: postgres.VaultAdmin, Password: sec.VaultAdminPassword, Database: "postgres"}
}
