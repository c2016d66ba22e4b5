// Package connect holds one run's guard-approved handles on a sandbox: its Docker
// engine, its Vault, its Postgres and its cluster. Bring-up, the operations behind the
// commands and the drills all reach the sandbox through a Conn, so that each handle is
// approved by the guard once, before its first use, and reused after.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/sandbox/vm"
)

// Components whose ports labsbx sends secrets to, as their dev.labsbx.component labels
// say.
const (
	ComponentPostgres = "postgres"
	ComponentVault    = "vault"
)

// Ports inside the vault profile's containers.
const (
	VaultPort    = 8200
	PostgresPort = 5432
)

// Conn is one run's handles on the sandbox st. Getenv reads the user's environment for
// DOCKER_HOST only (a local engine); it never chooses a target. Close releases what was
// opened.
type Conn struct {
	st     *state.State
	getenv func(string) string

	mu     sync.Mutex
	docker *docker.Runtime
	kube   *guard.Kube
	cs     kubernetes.Interface
}

// New prepares the handles of st; nothing is opened until asked for.
func New(st *state.State, getenv func(string) string) *Conn {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return &Conn{st: st, getenv: getenv}
}

// State is the sandbox's state.
func (c *Conn) State() *state.State { return c.st }

// Close releases the Docker connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docker == nil {
		return nil
	}
	err := c.docker.Close()
	c.docker = nil
	return err
}

// DockerApproval is the guard's approval of the local engine.
func (c *Conn) DockerApproval() (guard.DockerApproval, error) { return guard.ApproveDocker(c.getenv) }

// Docker is the runtime of the sandbox's containers on the approved local engine, once
// the guard has checked that the engine is the one the sandbox recorded (a sandbox that
// recorded none yet is being created: up records it, see EngineID).
func (c *Conn) Docker(ctx context.Context) (*docker.Runtime, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docker != nil {
		return c.docker, nil
	}
	appr, err := c.DockerApproval()
	if err != nil {
		return nil, err
	}
	rt, err := docker.New(appr, c.st.Name, c.st.UUID)
	if err != nil {
		return nil, err
	}
	if err := rt.Ping(ctx); err != nil {
		_ = rt.Close()
		return nil, err
	}
	id, err := rt.EngineID(ctx)
	if err == nil {
		err = guard.ApproveEngine(c.st.GuardRecord(), id)
	}
	if err != nil {
		_ = rt.Close()
		return nil, err
	}
	c.docker = rt
	return rt, nil
}

// Receiver is the guard's proof that a component's host port is served by this
// sandbox's own container, on the engine it was created on: the recorded, labelled
// container (vault profile), or the recorded k3d server node that publishes the
// NodePort (full profile). Every connection that carries a token, key or password is
// opened between two such proofs.
func (c *Conn) Receiver(component string) (guard.ReceiverProof, error) {
	appr, err := c.DockerApproval()
	if err != nil {
		return nil, err
	}
	s := c.st
	r := guard.Receiver{Record: s.GuardRecord()}
	switch component {
	case ComponentVault:
		if s.Vault == nil {
			return nil, fmt.Errorf("sandbox %q has no Vault yet; run `labsbx up --name %s`", s.Name, s.Name)
		}
		if r.HostPort, err = s.VaultPort(); err != nil {
			return nil, err
		}
		r.ContainerID, r.ContainerPort = s.Vault.ContainerID, VaultPort
		if s.Profile == config.ProfileFull {
			r.ContainerID, r.ContainerPort = "", cluster.VaultNodePort
		}
	case ComponentPostgres:
		if s.Docker == nil || s.Docker.PostgresPort == 0 {
			return nil, fmt.Errorf("sandbox %q has no Postgres yet; run `labsbx up --name %s`", s.Name, s.Name)
		}
		r.HostPort, r.ContainerPort = s.Docker.PostgresPort, PostgresPort
		r.ContainerID = s.Docker.Containers[ComponentPostgres]
		if s.Profile == config.ProfileFull {
			r.ContainerID, r.ContainerPort = "", cluster.PostgresNodePort
		}
	default:
		return nil, fmt.Errorf("no component %q", component)
	}
	r.Container = docker.ObjectName(s.Name, component)
	if s.Profile == config.ProfileFull {
		if s.Cluster == nil || s.Cluster.ServerNode == "" {
			return nil, errors.New("no k3d server node is recorded; run `labsbx up` to finish the cluster")
		}
		r.Container, r.Node = s.Cluster.ServerNode, true
	}
	return appr.Receiver(r), nil
}

// PostgresAdmin is the superuser endpoint of the sandbox's Postgres with the guard's
// proven dialer: the password goes only to the sandbox's own container.
func (c *Conn) PostgresAdmin(sec *state.PostgresSecrets) (postgres.Endpoint, error) {
	ep := c.st.PostgresAdminEndpoint(sec)
	proof, err := c.Receiver(ComponentPostgres)
	if err != nil {
		return ep, err
	}
	ep.Dial = guard.ProvenDialer(proof)
	return ep, nil
}

// Kube is the guard-approved connection to the sandbox's cluster (full profile): the
// recorded kubeconfig, server and CA, then the marker with the sandbox UUID, which it
// writes while up has not yet.
func (c *Conn) Kube(ctx context.Context) (*guard.Kube, kubernetes.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kube != nil {
		return c.kube, c.cs, nil
	}
	if c.st.Kube == nil {
		return nil, nil, fmt.Errorf("sandbox %q has no cluster recorded; run `labsbx up --name %s`", c.st.Name, c.st.Name)
	}
	rec := c.st.GuardRecord()
	appr, _, err := guard.ApproveKube(rec, []string{c.st.Kube.Kubeconfig}, c.st.Kube.Context)
	if err != nil {
		return nil, nil, err
	}
	k, err := appr.Connect(ctx, rec)
	if err != nil {
		return nil, nil, err
	}
	if err := k.WriteMarker(ctx); err != nil {
		return nil, nil, err
	}
	cs, err := k.Clientset()
	if err != nil {
		return nil, nil, err
	}
	c.kube, c.cs = k, cs
	return k, cs, nil
}

// Vault opens the sandbox's Vault (see VaultSession).
func (c *Conn) Vault(ctx context.Context) (*VaultSession, error) {
	s := c.st
	if err := s.Preflight(ctx); err != nil {
		return nil, err
	}
	if s.Vault == nil || s.Vault.ClusterID == "" {
		return nil, fmt.Errorf("sandbox %q has no initialised Vault; run `labsbx up --name %s`", s.Name, s.Name)
	}
	kp, err := s.VaultKeysPath()
	if err != nil {
		return nil, err
	}
	keys, err := vault.LoadKeys(kp)
	if errors.Is(err, vault.ErrNoKeys) {
		return nil, fmt.Errorf("%w: without it the sandbox's Vault can never be unsealed again; restore the file from a backup, or start afresh with `labsbx down --name %s` then `labsbx up --name %s`", err, s.Name, s.Name)
	}
	if err != nil {
		return nil, err
	}
	proof, err := c.Receiver(ComponentVault)
	if err != nil {
		return nil, err
	}
	appr, err := guard.ApproveVault(ctx, s.GuardRecord(), proof)
	if err != nil {
		return nil, err
	}
	cl, err := appr.Client()
	if err != nil {
		return nil, err
	}
	// Fail fast: a sealed Vault answers 503, which the client would otherwise retry.
	cl.SetMaxRetries(0)
	return &VaultSession{State: s, Client: cl, Approval: appr, Keys: keys}, nil
}

// VMs is the manager of the sandbox's arm64 VMs. Their secrets (the sandbox's SSH key,
// each VM's host key) live in the secrets dir, through the guard.
func (c *Conn) VMs(log *slog.Logger) *vm.Manager {
	return vm.New(vm.Sandbox{Record: c.st.GuardRecord(), SecretPath: c.st.SecretPath, Getenv: c.getenv, Log: log})
}
