package sandbox

import (
	"context"
	"errors"
	"time"

	"github.com/arcodange/labsbx/sandbox/vault"
)

// ErrUnknownApp is returned for an app the sandbox does not have.
var ErrUnknownApp = errors.New("no such app in the sandbox")

// CIToken mints the JWT a Gitea Actions job of App would present to the sandbox's
// Vault (role gitea_cicd_<app>), signed by the sandbox's own CI key (`labsbx ci token`).
type CIToken struct {
	cfg  *Configuration
	Name string
	App  string
	TTL  time.Duration
}

// NewCIToken prepares a token.
func NewCIToken(cfg *Configuration) *CIToken { return &CIToken{cfg: cfg, TTL: 5 * time.Minute} }

// CITokenResult is the token and where to log in with it.
type CITokenResult struct {
	Token string `json:"token"`
	Role  string `json:"role"`
	Mount string `json:"mount"`
}

// Run mints the token. The guard approves the sandbox's Vault first: the token is
// only for it.
func (c *CIToken) Run(ctx context.Context) (*CITokenResult, error) {
	s, err := c.cfg.OpenVault(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	if err := requireApp(s, c.App); err != nil {
		return nil, err
	}
	tok, err := mintCIToken(s, c.App, c.TTL)
	if err != nil {
		return nil, err
	}
	return &CITokenResult{Token: tok, Role: vault.CIRole(c.App), Mount: vault.AuthJWT}, nil
}
