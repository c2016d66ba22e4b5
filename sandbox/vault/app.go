package vault

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// AppToken issues a token with app's runtime policy only, from the root token: on the
// vault profile there is no cluster to log in from, so this stands in for the
// kubernetes/ login a pod of app makes (role <app>, policy <app>).
func AppToken(ctx context.Context, root *api.Client, app string) (string, error) {
	s, err := IssueAppToken(ctx, root, app)
	if err != nil {
		return "", err
	}
	return s.Auth.ClientToken, nil
}

// IssueAppToken is AppToken with the whole answer: accessor, policies, TTL.
func IssueAppToken(ctx context.Context, root *api.Client, app string) (*api.Secret, error) {
	s, err := root.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies: []string{RuntimePolicy(app)}, TTL: "1h", DisplayName: "labsbx-" + app,
	})
	if err != nil {
		return nil, fmt.Errorf("issue a runtime token of app %s: %w", app, err)
	}
	if s == nil || s.Auth == nil {
		return nil, fmt.Errorf("issue a runtime token of app %s: Vault returned no token", app)
	}
	return s, nil
}

// Credentials is a dynamic Postgres user from postgres/creds/<app>.
type Credentials struct {
	User, Password, Lease string
}

// String keeps the password out of any %v or %s.
func (c Credentials) String() string   { return "vault.Credentials{" + c.User + ", [redacted]}" }
func (c Credentials) GoString() string { return c.String() }

// AppCredentials reads new credentials of app with a client that holds app's token.
func AppCredentials(ctx context.Context, c *api.Client, app string) (Credentials, error) {
	s, err := c.Logical().ReadWithContext(ctx, CredsPath(app))
	if err != nil {
		return Credentials{}, fmt.Errorf("read %s: %w", CredsPath(app), err)
	}
	if s == nil {
		return Credentials{}, fmt.Errorf("read %s: no credentials", CredsPath(app))
	}
	user, _ := s.Data["username"].(string)
	pass, _ := s.Data["password"].(string)
	if user == "" || pass == "" || s.LeaseID == "" {
		return Credentials{}, fmt.Errorf("read %s: incomplete credentials", CredsPath(app))
	}
	return Credentials{User: user, Password: pass, Lease: s.LeaseID}, nil
}
