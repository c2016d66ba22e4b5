package cluster

import (
	"context"

	"github.com/arcodange/labsbx/sandbox/guard"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Provider is the full profile's cluster boundary: k3d (sandbox/cluster/k3d) on the
// local Docker engine.
type Provider interface {
	// Exists reports whether the sandbox's cluster exists; one of that name that is
	// not this sandbox's (its nodes lack the UUID) is a refusal.
	Exists(ctx context.Context) (bool, error)
	// Create runs the cluster and waits for its server.
	Create(ctx context.Context, o Options) error
	// Kubeconfig is the cluster's admin kubeconfig (context k3d-labsbx-<name>).
	Kubeconfig(ctx context.Context) (*clientcmdapi.Config, error)
	// ImportImages copies images from the Docker engine into the cluster's nodes.
	ImportImages(ctx context.Context, refs []string) error
	// Delete removes the cluster, if it exists and is this sandbox's.
	Delete(ctx context.Context) (bool, error)
	// Stop stops every node (k3d: one after another, each gracefully), and Start
	// starts them again and waits for the server: a power cycle of the whole cluster,
	// not a power cut (the full-restart drill).
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
	// ServerNode is the container of the first server, which publishes the ports.
	ServerNode() string
}

// Providers makes the cluster provider of one sandbox. The CLI sets it to k3d's;
// without one, the full profile is not available.
type Providers func(a guard.DockerApproval, sandbox, uuid string, h Helpers) (Provider, error)
