package postgres

import (
	"context"
	"net"
	"testing"
)

// The caller's PG* variables do not reach labsbx's own connections: not a target
// session attribute that fails every connection, not PGOPTIONS, TLS, timeouts,
// another host or a fallback.
func TestConnConfigIgnoresPGEnv(t *testing.T) {
	for k, v := range map[string]string{
		"PGHOST":               "192.0.2.10,192.0.2.11",
		"PGHOSTADDR":           "192.0.2.12",
		"PGPORT":               "6543",
		"PGUSER":               "prod",
		"PGPASSWORD":           "prod-password",
		"PGDATABASE":           "prod",
		"PGTARGETSESSIONATTRS": "read-only",
		"PGOPTIONS":            "-c default_transaction_read_only=on",
		"PGAPPNAME":            "steered",
		"PGTZ":                 "Mars/Olympus",
		"PGSSLMODE":            "verify-full",
		"PGSSLNEGOTIATION":     "direct",
		"PGSSLCERTMODE":        "require",
		"PGCONNECT_TIMEOUT":    "1",
		"PGREQUIREAUTH":        "none",
		"PGCHANNELBINDING":     "require",
		"PGMINPROTOCOLVERSION": "3.2",
		"PGMAXPROTOCOLVERSION": "3.2",
	} {
		t.Setenv(k, v)
	}
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, net.ErrClosed }
	e := Endpoint{Host: "127.0.0.1", Port: 5432, User: "postgres", Password: "sandbox-pw", Database: "postgres", Dial: dial}
	cfg, err := connConfig(e)
	if err != nil {
		t.Fatalf("connConfig with a hostile PG* environment: %v", err)
	}
	c := cfg.Config
	switch {
	case c.Host != "127.0.0.1" || c.Port != 5432 || c.User != "postgres" || c.Password != "sandbox-pw" || c.Database != "postgres":
		t.Errorf("endpoint steered: %s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
	case len(c.Fallbacks) != 0:
		t.Errorf("fallback hosts: %d", len(c.Fallbacks))
	case c.ValidateConnect != nil:
		t.Error("a target session attribute is checked")
	case len(c.RuntimeParams) != 0:
		t.Errorf("run-time parameters from the environment: %v", c.RuntimeParams)
	case c.TLSConfig != nil || c.SSLNegotiation != "postgres":
		t.Errorf("TLS from the environment: %v %q", c.TLSConfig != nil, c.SSLNegotiation)
	case c.ConnectTimeout.Seconds() != 5:
		t.Errorf("connect timeout %s", c.ConnectTimeout)
	case c.RequireAuth != "" || c.ChannelBinding != "prefer" || c.MinProtocolVersion != "3.0" || c.MaxProtocolVersion != "3.0":
		t.Errorf("auth or protocol from the environment: %q %q %q %q", c.RequireAuth, c.ChannelBinding, c.MinProtocolVersion, c.MaxProtocolVersion)
	}
}
