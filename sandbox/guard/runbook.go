package guard

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// A drill file's commands (fault, recovery, rollback, command probes) are the user's
// own code: labsbx runs them with an environment that holds only the sandbox's
// endpoints (see RunbookEnv), and the guard cannot sandbox what they do beyond that.
// What it can do is refuse, before anything runs, a command that names production:
//
//   - ~/.arcodange, where the lab keeps production's unseal key, or any
//     cluster-keys.json (a drill reads the sandbox's copy from $LABSBX_UNSEAL_KEY_FILE);
//   - an assignment to one of the variables that point a client at a Vault, a
//     cluster, a database or a Docker engine: labsbx sets them to the sandbox's;
//   - a client flag that does the same (-address, --kubeconfig, --context, --server,
//     --host);
//   - a URL whose host is not loopback: the sandbox listens only there. A loopback
//     URL must name one of the sandbox's endpoints, which ApproveRunbookURL checks
//     once they are known.
//
// The check reads the text as written: a command that builds a path or an address at
// run time is not caught, which the README says plainly.

// endpointVars point a client somewhere; a runbook gets the sandbox's and may not set
// them.
var endpointVars = []string{
	"VAULT_ADDR", "VAULT_AGENT_ADDR", "VAULT_TOKEN", "VAULT_CACERT", "VAULT_CAPATH", "VAULT_NAMESPACE",
	"KUBECONFIG", "PGHOST", "PGHOSTADDR", "PGPORT", "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE",
	"DOCKER_HOST", "DOCKER_CONTEXT", "LABSBX_UNSEAL_KEY_FILE",
}

var (
	reArcodange   = regexp.MustCompile(`(?i)\.arcodange`)
	reClusterKeys = regexp.MustCompile(`(?i)cluster-keys\.json`)
	reAssign      = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(` + strings.Join(endpointVars, "|") + `)=`)
	reEndpointArg = regexp.MustCompile(`(?:^|[\s'"])(-{1,2}address|--kubeconfig|--context|--kube-context|--server|--host)(?:[=\s'"]|$)`)
	reURL         = regexp.MustCompile(`(?i)\b(?:https?|postgres(?:ql)?)://[^\s'"<>]+`)
)

// CheckRunbook refuses a command text of a drill file (what names it: "spec.recovery.run")
// that names production: it runs runbookChecks (checks.go) in order. Loopback URLs are
// returned for ApproveRunbookURL once the sandbox's endpoints are known.
func CheckRunbook(what, text string) (loopbackURLs []string, err error) {
	r := &runbookRun{what: what, text: text}
	for _, st := range runbookChecks {
		if _, err := st.run(r); err != nil {
			return nil, err
		}
	}
	return r.urls, nil
}

// runbookRun is one command text under runbookChecks.
type runbookRun struct {
	what, text string
	urls       []string // the loopback URLs it names, once runbook-urls passed
}

func (r *runbookRun) arcodange() (string, error) {
	if reArcodange.MatchString(r.text) {
		return "", refusef("%s names ~/.arcodange, where production's unseal key lives: a drill uses the sandbox's copy in $LABSBX_UNSEAL_KEY_FILE", r.what)
	}
	return "", nil
}

func (r *runbookRun) keyFile() (string, error) {
	if reClusterKeys.MatchString(r.text) {
		return "", refusef("%s names a cluster-keys.json: a drill uses the sandbox's copy in $LABSBX_UNSEAL_KEY_FILE, never a key file of its own", r.what)
	}
	return "", nil
}

func (r *runbookRun) endpoints() (string, error) {
	if m := reAssign.FindStringSubmatch(r.text); m != nil {
		return "", refusef("%s sets %s: labsbx sets it to the sandbox's, and a drill may not point it elsewhere", r.what, m[1])
	}
	return "", nil
}

func (r *runbookRun) flags() (string, error) {
	if m := reEndpointArg.FindStringSubmatch(r.text); m != nil {
		return "", refusef("%s passes %s: a drill's clients use the sandbox's endpoints from the environment labsbx gives them", r.what, m[1])
	}
	return "", nil
}

func (r *runbookRun) loopbackURLs() (string, error) {
	for _, raw := range reURL.FindAllString(r.text, -1) {
		u, perr := url.Parse(strings.TrimRight(raw, ".,;)"))
		if perr != nil || u.Hostname() == "" {
			return "", refusef("%s names %q, which is not a URL labsbx can check", r.what, raw)
		}
		if !isLoopbackHost(u.Hostname()) {
			return "", refusef("%s names %s, which is not the sandbox: the sandbox listens on loopback only", r.what, u.Host)
		}
		r.urls = append(r.urls, raw)
	}
	return strings.Join(r.urls, " "), nil
}

// ApproveRunbookURL refuses a loopback URL of a drill file that is not one of the
// sandbox's endpoints (scheme, host and port as labsbx recorded them).
func ApproveRunbookURL(what, raw string, endpoints []string) error {
	u, err := url.Parse(strings.TrimRight(raw, ".,;)"))
	if err != nil {
		return refusef("%s names %q, which is not a URL labsbx can check", what, raw)
	}
	var known []string
	for _, e := range endpoints {
		eu, err := url.Parse(e)
		if err != nil {
			continue
		}
		if sameEndpoint(u, eu) {
			return nil
		}
		known = append(known, eu.Scheme+"://"+eu.Host)
	}
	slices.Sort(known)
	return refusef("%s names %s, which is not an endpoint of this sandbox (%s)", what, u.Scheme+"://"+u.Host, strings.Join(known, ", "))
}

func sameEndpoint(a, b *url.URL) bool {
	if !strings.EqualFold(a.Scheme, b.Scheme) || a.Port() != b.Port() {
		return false
	}
	ah, bh := a.Hostname(), b.Hostname()
	return strings.EqualFold(ah, bh) || isLoopbackHost(ah) && isLoopbackHost(bh)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// RunbookEnv is the whole environment of a drill file's command: what finds programs
// and renders output (IdentityEnv's allow-list of the caller's), then the sandbox's
// variables. Nothing else of the caller's environment reaches it.
func RunbookEnv(getenv func(string) string, sandboxVars []string) []string {
	env := IdentityEnv(getenv)
	for _, kv := range sandboxVars {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			panic(fmt.Sprintf("guard: runbook variable without a name: %q", k))
		}
		env = append(env, kv)
	}
	return env
}
