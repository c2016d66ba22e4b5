// Package postgres prepares the sandbox database the way production's is laid out: a
// dedicated admin user for Vault (not the superuser), and per app a group role
// <app>_role that owns a schema <app>. Drills use the same functions to break and
// repair it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// VaultAdmin is the Postgres user Vault's database engine connects as.
const VaultAdmin = "vault_admin"

// Endpoint is where a Postgres server answers, and as whom.
type Endpoint struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string
	// Dial opens every connection: the guard's proven dialer (guard.ProvenDialer),
	// which reaches the port only while Docker shows the sandbox's own container
	// serving it. Connect sends no password without one.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DSN is a pgx connection string. It holds the password: never print it.
func (e Endpoint) DSN() string {
	return e.dsnWith(url.Values{"sslmode": {"disable"}, "connect_timeout": {"5"}})
}

// dsnWith is the connection string with these settings.
func (e Endpoint) dsnWith(q url.Values) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(e.User, e.Password),
		Host: net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), Path: "/" + e.Database, RawQuery: q.Encode()}
	return u.String()
}

// String names the endpoint without the password.
func (e Endpoint) String() string {
	return fmt.Sprintf("%s@%s/%s", e.User, net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), e.Database)
}

// GoString keeps the password out of %#v too.
func (e Endpoint) GoString() string {
	return "postgres.Endpoint{" + e.String() + ", password redacted}"
}

// ErrNoDialer is returned by Connect for an endpoint without a proven dialer.
var ErrNoDialer = errors.New("no proven dialer: labsbx sends no password to a port it has not proven to be the sandbox's")

// Connect opens one connection through the endpoint's proven dialer. The error never
// carries the password.
func Connect(ctx context.Context, e Endpoint) (*pgx.Conn, error) {
	if e.Dial == nil {
		return nil, fmt.Errorf("postgres %s: %w", e, ErrNoDialer)
	}
	cfg, err := connConfig(e)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: bad endpoint", e)
	}
	cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres as %s: %w", e, err)
	}
	return c, nil
}

// WaitReady retries Connect until it succeeds or ctx ends.
func WaitReady(ctx context.Context, e Endpoint, every time.Duration) error {
	err := wait.Poll(ctx, wait.Options{Interval: every}, func(ctx context.Context) error {
		c, err := Connect(ctx, e)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		return c.Ping(ctx)
	})
	if err != nil {
		return fmt.Errorf("postgres at %s is not ready: %w", e, err)
	}
	return nil
}

// Ident quotes a Postgres identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// AppRole is the group role that an app's dynamic users are granted.
func AppRole(app string) string { return app + "_role" }

// EnsureVaultAdmin creates (or repairs) the login role Vault uses: CREATEROLE, not
// superuser, with the given password. It returns whether anything changed.
func EnsureVaultAdmin(ctx context.Context, c *pgx.Conn, password string) (bool, error) {
	var exists, createrole, super bool
	err := c.QueryRow(ctx, `SELECT true, rolcreaterole, rolsuper FROM pg_roles WHERE rolname = $1`, VaultAdmin).Scan(&exists, &createrole, &super)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("look up %s: %w", VaultAdmin, err)
	}
	// The password is sent as a literal: CREATE/ALTER ROLE take no bind parameters.
	pw := quoteLiteral(password)
	switch {
	case !exists:
		_, err = c.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s WITH LOGIN CREATEROLE NOSUPERUSER PASSWORD %s`, Ident(VaultAdmin), pw))
	case !createrole || super:
		_, err = c.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s WITH LOGIN CREATEROLE NOSUPERUSER PASSWORD %s`, Ident(VaultAdmin), pw))
	default:
		// The role is right; its password is checked by Vault's connection verify.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create role %s: %w", VaultAdmin, redact(err, password))
	}
	return true, nil
}

// SetVaultAdminPassword sets the admin password unconditionally (used when the state
// holds a password that the database does not know, e.g. after a restore).
func SetVaultAdminPassword(ctx context.Context, c *pgx.Conn, password string) error {
	_, err := c.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s WITH PASSWORD %s`, Ident(VaultAdmin), quoteLiteral(password)))
	return redact(err, password)
}

// EnsureApp creates <app>_role (NOLOGIN), a schema <app> that it owns, and gives Vault's
// admin the right to grant it. It returns whether anything changed.
func EnsureApp(ctx context.Context, c *pgx.Conn, app string) (bool, error) {
	role := AppRole(app)
	changed := false
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&n); err != nil {
		return false, fmt.Errorf("look up %s: %w", role, err)
	}
	if n == 0 {
		if _, err := c.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, Ident(role))); err != nil {
			return false, fmt.Errorf("create role %s: %w", role, err)
		}
		changed = true
	}
	var owner string
	err := c.QueryRow(ctx, `SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1`, app).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := c.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s AUTHORIZATION %s`, Ident(app), Ident(role))); err != nil {
			return false, fmt.Errorf("create schema %s: %w", app, err)
		}
		changed = true
	case err != nil:
		return false, fmt.Errorf("look up schema %s: %w", app, err)
	case owner != role:
		if _, err := c.Exec(ctx, fmt.Sprintf(`ALTER SCHEMA %s OWNER TO %s`, Ident(app), Ident(role))); err != nil {
			return false, fmt.Errorf("set owner of schema %s: %w", app, err)
		}
		changed = true
	}
	// Vault's admin must be able to GRANT <app>_role to the users it creates. WITH ADMIN
	// OPTION is what Postgres 16 requires; 15 accepts it too.
	var admin bool
	err = c.QueryRow(ctx, `SELECT m.admin_option FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2`, role, VaultAdmin).Scan(&admin)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("look up grants of %s: %w", role, err)
	}
	if !admin {
		if _, err := c.Exec(ctx, fmt.Sprintf(`GRANT %s TO %s WITH ADMIN OPTION`, Ident(role), Ident(VaultAdmin))); err != nil {
			return false, fmt.Errorf("grant %s to %s: %w", role, VaultAdmin, err)
		}
		changed = true
	}
	return changed, nil
}

// RoleExists reports whether a role (a dynamic user or a group) exists.
func RoleExists(ctx context.Context, c *pgx.Conn, role string) (bool, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&n)
	return n > 0, err
}

// MemberOf reports whether user is a member of group.
func MemberOf(ctx context.Context, c *pgx.Conn, user, group string) (bool, error) {
	var ok bool
	err := c.QueryRow(ctx, `SELECT pg_has_role($1, $2, 'MEMBER')`, user, group).Scan(&ok)
	return ok, err
}

// CreationStatements are what Vault runs to make a dynamic user for app.
func CreationStatements(app string) []string {
	return []string{
		`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
		fmt.Sprintf(`GRANT %s TO "{{name}}";`, Ident(AppRole(app))),
	}
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// redact keeps a password out of an error that might echo the statement.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &redacted{err: err, secret: secret}
}

type redacted struct {
	err    error
	secret string
}

func (r *redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.secret, "[redacted]") }
func (r *redacted) Unwrap() error { return r.err }

// IsAuthFailure reports whether a connection failed because Postgres refused the login
// (password authentication failed, role does not exist, or the role cannot log in).
func IsAuthFailure(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return true
		}
	}
	return false
}

// DropAppRole drops <app>_role the way an operator's mistake would: the schema it owns
// passes to the superuser first, so the drop succeeds. Drills use it.
func DropAppRole(ctx context.Context, c *pgx.Conn, app string) error {
	role := Ident(AppRole(app))
	for _, q := range []string{
		`REASSIGN OWNED BY ` + role + ` TO CURRENT_USER`,
		`DROP OWNED BY ` + role,
		`DROP ROLE ` + role,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("drop %s: %w", AppRole(app), err)
		}
	}
	return nil
}
