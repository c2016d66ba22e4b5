package sandbox

import (
	"errors"
	"fmt"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
)

// receiver is the guard's proof that a component's host port is served by this
// sandbox's own container, on the engine it was created on: the recorded, labelled
// container (vault profile), or the recorded k3d server node that publishes the
// NodePort (full profile). Every connection that carries a token, key or password is
// opened between two such proofs.
func receiver(s *state.State, getenv func(string) string, component string) (guard.ReceiverProof, error) {
	appr, err := guard.ApproveDocker(getenv)
	if err != nil {
		return nil, err
	}
	r := guard.Receiver{Record: s.GuardRecord()}
	switch component {
	case ComponentVault:
		if s.Vault == nil {
			return nil, fmt.Errorf("sandbox %q has no Vault yet; run `labsbx up --name %s`", s.Name, s.Name)
		}
		if r.HostPort, err = addrPort(s.Vault.Addr); err != nil {
			return nil, err
		}
		r.ContainerID, r.ContainerPort = s.Vault.ContainerID, vaultPort
		if s.Profile == config.ProfileFull {
			r.ContainerID, r.ContainerPort = "", cluster.VaultNodePort
		}
	case ComponentPostgres:
		if s.Docker == nil || s.Docker.PostgresPort == 0 {
			return nil, fmt.Errorf("sandbox %q has no Postgres yet; run `labsbx up --name %s`", s.Name, s.Name)
		}
		r.HostPort, r.ContainerPort = s.Docker.PostgresPort, postgresPort
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

// ProvenPostgresAdmin is the superuser endpoint of the sandbox's Postgres with the
// guard's proven dialer: the password goes only to the sandbox's own container.
func ProvenPostgresAdmin(s *state.State, sec *state.PostgresSecrets, getenv func(string) string) (postgres.Endpoint, error) {
	ep := s.PostgresAdminEndpoint(sec)
	proof, err := receiver(s, getenv, ComponentPostgres)
	if err != nil {
		return ep, err
	}
	ep.Dial = guard.ProvenDialer(proof)
	return ep, nil
}
