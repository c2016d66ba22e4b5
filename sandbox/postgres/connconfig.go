package postgres

import (
	"net/url"

	"github.com/jackc/pgx/v5"
)

// neutralSettings are the connection settings that pgx would otherwise take from the
// caller's PG* variables (PGTARGETSESSIONATTRS, PGSSLMODE, PGCONNECT_TIMEOUT, …),
// each set to what labsbx's connections use: a connection string wins over the
// environment, so these keep a variable from steering or failing labsbx's own
// connection (PGTARGETSESSIONATTRS=read-only made every one of them fail).
var neutralSettings = url.Values{
	"sslmode":              {"disable"},
	"connect_timeout":      {"5"},
	"target_session_attrs": {"any"},
	"sslnegotiation":       {"postgres"},
	"sslcertmode":          {"allow"},
	"min_protocol_version": {"3.0"},
	"max_protocol_version": {"3.0"},
	"channel_binding":      {"prefer"},
	"require_auth":         {""},
}

// connConfig is pgx's configuration of e, made from e alone. pgx.ParseConfig reads
// the process's PG* variables beneath any connection string: every setting it could
// take from them is given explicitly (neutralSettings), and what the connection
// string cannot override (run-time parameters from PGOPTIONS, PGAPPNAME and PGTZ,
// Kerberos names, fallback hosts) is reset after parsing. labsbx's main also removes
// PG* from its environment, which alone covers PGSERVICE: a service that names a
// missing file fails the parse itself.
func connConfig(e Endpoint) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(e.dsnWith(neutralSettings))
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams = map[string]string{}
	cfg.KerberosSrvName, cfg.KerberosSpn = "", ""
	cfg.Fallbacks = nil
	cfg.TLSConfig = nil
	cfg.ValidateConnect = nil
	cfg.DialFunc = e.Dial
	cfg.LookupFunc = nil
	return cfg, nil
}
