package guard

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The clients labsbx hands a secret to: the Vault CLI and psql that `labsbx vault --`
// and `labsbx psql` run in the sandbox's containers with the root token or a
// password in their environment, and whatever `labsbx exec` and `labsbx ci exec` run
// locally with the sandbox's variables. labsbx proves the endpoint it gives them
// (the same receiver proof as its own connections); these checks (vaultClientChecks,
// psqlClientChecks and execClientChecks in checks.go) refuse, before anything runs, an
// argument that points the client somewhere else, where the secret would follow it.

// clientRun is one command line under the client checks: the arguments of the Vault
// CLI or of psql, or the whole command of `labsbx exec` and `labsbx ci exec`.
type clientRun struct {
	args []string
	// psql is args as psql's getopt_long reads them (psqlClientChecks).
	psql []psqlArg
	// endpoints are the sandbox's, which the command's loopback URLs must be (exec;
	// nil: not known yet, only loopback is required).
	endpoints []string
}

// vaultEndpointFlags pick the server the Vault CLI sends its token to.
var vaultEndpointFlags = []string{"address", "agent-address"}

// CheckVaultArgs refuses Vault CLI arguments that name another server (-address,
// -agent-address): the CLI sends the root token there (vaultClientChecks).
func CheckVaultArgs(args []string) error {
	return runChecks(vaultClientChecks, &clientRun{args: args})
}

func (r *clientRun) vaultAddress() (string, error) {
	for _, a := range r.args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		for _, f := range vaultEndpointFlags {
			if strings.EqualFold(name, f) {
				return "", refusef("the Vault CLI's argument %q picks the server it sends the token to; labsbx points it at the sandbox's Vault (VAULT_ADDR), drop it", a)
			}
		}
	}
	return "no -address or -agent-address", nil
}

// psqlArgShorts are psql's short options that take a value (getopt "c:d:f:F:h:L:o:p:P:R:T:U:v:").
const psqlArgShorts = "cdfFhLopPRTUv"

// psqlLongWithValue are psql's long options that take a value, by name.
var psqlLongWithValue = map[string]bool{
	"command": true, "dbname": true, "file": true, "field-separator": true, "host": true, "log-file": true,
	"output": true, "port": true, "pset": true, "record-separator": true, "table-attr": true,
	"username": true, "set": true, "variable": true,
}

// psqlLongNames are all of psql's long options, to resolve an abbreviation as
// getopt_long does (a unique prefix names the option).
var psqlLongNames = []string{
	"echo-all", "no-align", "command", "dbname", "echo-queries", "echo-errors", "echo-hidden", "file",
	"field-separator", "host", "html", "list", "log-file", "no-readline", "single-transaction",
	"output", "port", "pset", "quiet", "record-separator", "single-step", "single-line", "tuples-only",
	"table-attr", "username", "set", "variable", "version", "no-password", "password", "expanded",
	"no-psqlrc", "field-separator-zero", "record-separator-zero", "csv", "help",
}

// psqlLong resolves a long option name as getopt_long does: exact, or a unique prefix.
func psqlLong(name string) string {
	var match string
	for _, n := range psqlLongNames {
		if n == name {
			return n
		}
		if strings.HasPrefix(n, name) {
			if match != "" {
				return "" // ambiguous: psql refuses it too
			}
			match = n
		}
	}
	return match
}

// conninfoServerKeys name the server in a libpq conninfo or URI query.
var conninfoServerKeys = map[string]bool{"host": true, "hostaddr": true, "port": true, "service": true, "servicefile": true, "passfile": true}

var (
	reConninfoKey = regexp.MustCompile(`(?i)(?:^|\s)([a-z_]+)\s*=`)
	reMetaConnect = regexp.MustCompile(`\\(?:c|connect)(?:\s|$)([^\\\n]*)`)
)

// CheckPSQLArgs refuses psql arguments that name another server: -h/--host,
// -p/--port, a conninfo or URI with a host, port or service as the database or user
// argument (or -d), and a \connect in -c that names one. psql would send the
// password there (psqlClientChecks).
func CheckPSQLArgs(args []string) error {
	return runChecks(psqlClientChecks, &clientRun{args: args, psql: parsePSQL(args)})
}

// psqlArg is one option or argument of psql, as its getopt_long reads it.
type psqlArg struct {
	raw string
	// server is 'h' or 'p' for a short option that picks the server, 'L' for a long
	// one (--host, --port, or a prefix of them); 0 otherwise.
	server byte
	// long is the option's long name ("command", "dbname", ...; "" for an argument).
	long  string
	value string
	// conninfo: a database or user argument, which libpq may read as a conninfo or URI.
	conninfo bool
}

// parsePSQL reads args as psql does: options with their values (bundled short options,
// values joined or separate, unique long prefixes), arguments, and everything after
// "--" as arguments.
func parsePSQL(args []string) []psqlArg {
	var out []psqlArg
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--":
			for _, p := range args[i+1:] {
				out = append(out, psqlArg{raw: p, value: p, conninfo: true})
			}
			return out
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			long := psqlLong(name)
			if psqlLongWithValue[long] && !hasVal {
				val = next()
			}
			arg := psqlArg{raw: a, long: long, value: val}
			if long == "host" || long == "port" {
				arg.server = 'L'
			}
			out = append(out, arg)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				c := a[j]
				if strings.IndexByte(psqlArgShorts, c) < 0 {
					continue
				}
				val := a[j+1:]
				if val == "" {
					val = next()
				}
				arg := psqlArg{raw: a, long: map[byte]string{'c': "command", 'd': "dbname"}[c], value: val}
				if c == 'h' || c == 'p' {
					arg.server = c
				}
				out = append(out, arg)
				break
			}
		default:
			// psql [dbname [username]]: either may be a conninfo or a URI.
			out = append(out, psqlArg{raw: a, value: a, conninfo: true})
		}
	}
	return out
}

func (r *clientRun) psqlServer() (string, error) {
	for _, a := range r.psql {
		switch a.server {
		case 0:
		case 'L':
			return "", refusef("psql's argument %q picks the server it sends the password to; labsbx points it at the sandbox's Postgres (PGHOST, PGPORT), drop it", a.raw)
		default:
			return "", refusef("psql's argument %q picks the server it sends the password to (-%c); labsbx points it at the sandbox's Postgres (PGHOST, PGPORT), drop it", a.raw, a.server)
		}
	}
	return "no -h/--host or -p/--port", nil
}

func (r *clientRun) psqlConninfo() (string, error) {
	for _, a := range r.psql {
		if a.conninfo || a.long == "dbname" {
			if err := checkConninfo(a.value); err != nil {
				return "", err
			}
		}
	}
	return "no conninfo or URI names a server", nil
}

func (r *clientRun) psqlConnect() (string, error) {
	for _, a := range r.psql {
		if a.long != "command" {
			continue
		}
		for _, m := range reMetaConnect.FindAllStringSubmatch(a.value, -1) {
			words := strings.Fields(m[1])
			if len(words) > 2 {
				return "", refusef("psql's -c %q connects to another server (\\connect with a host or port); labsbx's psql talks to the sandbox's Postgres only", a.value)
			}
			for _, w := range words {
				if err := checkConninfo(w); err != nil {
					return "", err
				}
			}
		}
	}
	return "no \\connect to another server", nil
}

// checkConninfo refuses a libpq conninfo ("host=… port=…") or URI
// ("postgres://host:port/…") that names a server. A plain database or user name
// passes.
func checkConninfo(s string) error {
	low := strings.ToLower(strings.TrimSpace(s))
	if strings.HasPrefix(low, "postgres://") || strings.HasPrefix(low, "postgresql://") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return refusef("psql's connection URI %q cannot be checked", redactUserinfo(s))
		}
		if u.Host != "" {
			return refusef("psql's connection URI %q names a server (%s); labsbx points psql at the sandbox's Postgres, give only the database", redactUserinfo(s), u.Host)
		}
		for k := range u.Query() {
			if conninfoServerKeys[strings.ToLower(k)] {
				return refusef("psql's connection URI %q sets %s; labsbx points psql at the sandbox's Postgres", redactUserinfo(s), k)
			}
		}
		return nil
	}
	for _, m := range reConninfoKey.FindAllStringSubmatch(s, -1) {
		if conninfoServerKeys[strings.ToLower(m[1])] {
			return refusef("psql's connection string sets %s; labsbx points psql at the sandbox's Postgres (PGHOST, PGPORT), drop it", m[1])
		}
	}
	return nil
}

// CheckExecArgs refuses a command that labsbx runs with the sandbox's variables (`labsbx
// exec`, `labsbx ci exec`) when an argument points a client elsewhere: CheckRunbook's
// rules on the command line as written (an endpoint variable set, an endpoint flag, a
// URL off loopback; a loopback URL must be one of endpoints, the sandbox's, when they
// are given), then, for every vault or psql it names (as the command, or as a word of
// an argument such as sh -c's), that client's own checks (execClientChecks).
func CheckExecArgs(argv, endpoints []string) error {
	if len(argv) == 0 {
		return nil
	}
	return runChecks(execClientChecks, &clientRun{args: argv, endpoints: endpoints})
}

func (r *clientRun) execRunbook() (string, error) {
	urls, err := CheckRunbook("the command", strings.Join(r.args, " "))
	if err != nil {
		return "", err
	}
	if r.endpoints != nil {
		for _, u := range urls {
			if err := ApproveRunbookURL("the command", u, r.endpoints); err != nil {
				return "", err
			}
		}
	}
	return fmt.Sprintf("the runbook rules hold; %d loopback URL(s)", len(urls)), nil
}

func (r *clientRun) execClients() (string, error) {
	if err := checkClientWords(r.args); err != nil {
		return "", err
	}
	for _, a := range r.args[1:] {
		if strings.ContainsAny(a, " \t\n;|&") {
			if err := checkClientWords(shellWords(a)); err != nil {
				return "", err
			}
		}
	}
	return "every vault and psql it names passes its client checks", nil
}

// checkClientWords runs the client checks on the arguments that follow each vault or
// psql in words.
func checkClientWords(words []string) error {
	for i, w := range words {
		var err error
		switch filepath.Base(w) {
		case "vault":
			err = CheckVaultArgs(words[i+1:])
		case "psql":
			err = CheckPSQLArgs(words[i+1:])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// shellWords splits a shell command line into words, roughly: on blanks and command
// separators, with quotes removed. It is for finding clients and their flags, not for
// running anything.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote = r
		case strings.ContainsRune(" \t\n;|&()", r):
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return words
}

// Handout is what labsbx is about to hand out (`env` prints it, `exec` gives it to a
// command): the endpoints beside a token or a password.
type Handout struct {
	// VaultAddr is the VAULT_ADDR handed out ("": none); ApprovedVault the address of
	// the approved Vault session it came from.
	VaultAddr, ApprovedVault string
	// PGHost and PGPort are PGHOST and PGPORT ("": none); Postgres proves the sandbox's
	// Postgres receiver.
	PGHost, PGPort string
	Postgres       ReceiverProof
}

// ApproveHandout proves the endpoints of h as labsbx's own connections are proven
// (handoutChecks): VAULT_ADDR is the approved Vault's address, and PGHOST:PGPORT is
// 127.0.0.1 and the port that Docker shows the sandbox's own Postgres container (or
// k3d server node) publishing, on the engine the sandbox was created on. A Postgres
// that is ours but down is that error, not a refusal.
func ApproveHandout(ctx context.Context, h Handout) error {
	return runChecks(handoutChecks, &handoutRun{ctx: ctx, h: h})
}

// handoutRun is one hand-out under handoutChecks.
type handoutRun struct {
	ctx context.Context
	h   Handout
}

func (r *handoutRun) vault() (string, error) {
	h := r.h
	if h.VaultAddr != "" && h.VaultAddr != h.ApprovedVault {
		return "", refusef("VAULT_ADDR %s is not the sandbox's proven Vault address %s", h.VaultAddr, h.ApprovedVault)
	}
	return "VAULT_ADDR is the approved Vault's address, or none", nil
}

func (r *handoutRun) postgres() (string, error) {
	h := r.h
	if h.PGHost == "" && h.PGPort == "" {
		return "no Postgres endpoint", nil
	}
	if h.Postgres == nil {
		return "", refusef("the Postgres endpoint %s has no proof of its receiver", net.JoinHostPort(h.PGHost, h.PGPort))
	}
	if want := strconv.Itoa(h.Postgres.HostPort()); h.PGHost != "127.0.0.1" || h.PGPort != want {
		return "", refusef("the Postgres endpoint %s is not the port the sandbox's Postgres publishes on 127.0.0.1 (%s)", net.JoinHostPort(h.PGHost, h.PGPort), want)
	}
	if _, err := h.Postgres.Prove(r.ctx); err != nil {
		return "", fmt.Errorf("the sandbox's Postgres at %s: %w", net.JoinHostPort(h.PGHost, h.PGPort), err)
	}
	return "127.0.0.1:" + h.PGPort + ", proven", nil
}
