package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// VaultSession is an approved connection to a sandbox's Vault. Its client holds the
// root token only when Root was asked for.
type VaultSession struct {
	State    *State
	Client   *api.Client
	Approval guard.VaultApproval
	Keys     *vault.Keys
}

// OpenVault asks the guard for the sandbox's Vault: the address and cluster_id come
// only from the state. It does not take the sandbox lock: seal and unseal must work while
// a drill waits for a person to recover.
func (c *Configuration) OpenVault(ctx context.Context, name string) (*VaultSession, error) {
	st, err := c.Store.Load(name)
	if err != nil {
		return nil, err
	}
	return st.OpenVault(ctx, c.Getenv)
}

// OpenVault asks the guard for this sandbox's Vault. A sealed Vault cannot report its
// cluster_id: the guard approves it pending, Unseal verifies it, and before that the
// Docker engine must show that the recorded port is published by the recorded,
// labelled container, so that the sandbox key never goes to anything else.
func (s *State) OpenVault(ctx context.Context, getenv func(string) string) (*VaultSession, error) {
	if err := s.Preflight(ctx); err != nil {
		return nil, err
	}
	if s.Vault == nil || s.Vault.ClusterID == "" {
		return nil, fmt.Errorf("sandbox %q has no initialised Vault; run `labsbx up --name %s`", s.Name, s.Name)
	}
	appr, err := guard.ApproveVault(ctx, s.GuardRecord())
	if err != nil {
		return nil, err
	}
	if !appr.Verified() {
		if err := s.checkSealedVault(ctx, getenv); err != nil {
			return nil, &guard.Refusal{Reason: "sealed Vault at " + s.Vault.Addr + " is not provably the sandbox's: " + err.Error(), Err: err}
		}
	}
	cl, err := appr.Client()
	if err != nil {
		return nil, err
	}
	// Fail fast: a sealed Vault answers 503, which the client would otherwise retry.
	cl.SetMaxRetries(0)
	kp, err := s.VaultKeysPath()
	if err != nil {
		return nil, err
	}
	keys, err := vault.LoadKeys(kp)
	if err != nil {
		return nil, err
	}
	return &VaultSession{State: s, Client: cl, Approval: appr, Keys: keys}, nil
}

// NewClient is another client of the same approved Vault, holding token.
func (v *VaultSession) NewClient(token string) (*api.Client, error) {
	c, err := v.Approval.Client()
	if err != nil {
		return nil, err
	}
	c.SetMaxRetries(0)
	c.SetToken(token)
	return c, nil
}

// Root puts the root token on the session's client.
func (v *VaultSession) Root() *api.Client {
	v.Client.SetToken(v.Keys.RootToken)
	return v.Client
}

// Unseal unseals with the sandbox key, then checks that the Vault that opened is the one
// labsbx initialised.
func (v *VaultSession) Unseal(ctx context.Context) (vault.Status, error) {
	st, err := vault.Unseal(ctx, v.Client, v.Keys)
	if err != nil {
		return st, err
	}
	if err := v.Approval.VerifyClusterID(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// Seal seals the sandbox's Vault.
func (v *VaultSession) Seal(ctx context.Context) error { return vault.Seal(ctx, v.Root()) }

// Status reads the seal status.
func (v *VaultSession) Status(ctx context.Context) (vault.Status, error) {
	return vault.GetStatus(ctx, v.Client)
}

// Bootstrap converges the sandbox's Vault layout; it takes the sandbox lock.
func (c *Configuration) Bootstrap(ctx context.Context, name string) ([]vault.Change, error) {
	lock, err := c.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	s, err := c.OpenVault(ctx, name)
	if err != nil {
		return nil, err
	}
	sec, err := s.State.PostgresSecrets()
	if err != nil {
		return nil, err
	}
	layout, err := s.State.VaultLayout(sec, nil)
	if err != nil {
		return nil, err
	}
	return vault.Bootstrap(ctx, s.Root(), layout)
}

// InitVault initialises the sandbox's Vault if labsbx has not done so yet. It is what
// `up` does in its init step, for a person who stopped before it.
func (c *Configuration) InitVault(ctx context.Context, name string) (vault.Status, bool, error) {
	lock, err := c.Store.Lock(name)
	if err != nil {
		return vault.Status{}, false, err
	}
	defer lock.Unlock()
	st, err := c.Store.Load(name)
	if err != nil {
		return vault.Status{}, false, err
	}
	if st.Vault == nil || st.Vault.Addr == "" {
		return vault.Status{}, false, fmt.Errorf("sandbox %q has no Vault yet; run `labsbx up --name %s`", name, name)
	}
	if st.Vault.ClusterID != "" {
		s, err := st.OpenVault(ctx, c.Getenv)
		if err != nil {
			return vault.Status{}, false, err
		}
		vs, err := s.Status(ctx)
		return vs, false, err
	}
	appr, err := guard.ApproveVaultInit(ctx, st.GuardRecord(), st.Vault.Addr)
	if err != nil {
		return vault.Status{}, false, err
	}
	vs, err := c.initAndUnseal(ctx, st, appr)
	return vs, err == nil, err
}

// initAndUnseal initialises the sandbox's uninitialised Vault (approved for init by the
// guard), saves the key and root token, unseals it and records its cluster_id, from
// which on the guard trusts only that Vault.
func (c *Configuration) initAndUnseal(ctx context.Context, st *State, appr guard.VaultApproval) (vault.Status, error) {
	cl, err := appr.Client()
	if err != nil {
		return vault.Status{}, err
	}
	kp, err := st.VaultKeysPath()
	if err != nil {
		return vault.Status{}, err
	}
	keys, err := vault.Init(ctx, cl, kp)
	if err != nil {
		return vault.Status{}, err
	}
	vs, err := vault.Unseal(ctx, cl, keys)
	if err != nil {
		return vs, err
	}
	id, err := appr.ClusterID(ctx)
	if err != nil {
		return vs, err
	}
	vs.ClusterID = id
	st.Vault.ClusterID, st.Vault.Version, st.Vault.InitAt = id, vs.Version, c.now()
	return vs, c.Store.Save(st, c.now())
}

// checkSealedVault asks Docker whether the recorded Vault container (vault profile),
// or the recorded k3d server node (full profile), publishes the recorded address.
func (s *State) checkSealedVault(ctx context.Context, getenv func(string) string) error {
	port, err := addrPort(s.Vault.Addr)
	if err != nil {
		return err
	}
	rt, err := s.DockerRuntime(getenv)
	if err != nil {
		return err
	}
	defer rt.Close()
	if s.Profile == ProfileFull {
		// Vault is a pod behind NodePort VaultNodePort, which the first k3d server
		// node publishes; the cluster's marker check already ties that cluster to the
		// sandbox.
		if s.Cluster == nil || s.Cluster.ServerNode == "" {
			return errors.New("no k3d server node is recorded")
		}
		return rt.NodePublishes(ctx, s.Cluster.ServerNode, cluster.VaultNodePort, port)
	}
	return rt.Publishes(ctx, ComponentVault, s.Vault.ContainerID, vaultPort, port)
}
