package guard

import (
	"runtime"
	"strings"
)

// keptEnv is the environment child processes (docker, helm hooks, qemu, ssh)
// inherit. It is an allow-list: anything not named here is dropped, which
// covers VAULT_*, KUBECONFIG, DOCKER_HOST/DOCKER_CONTEXT/DOCKER_CERT_PATH/
// DOCKER_TLS_VERIFY, HTTP(S)_PROXY/ALL_PROXY/NO_PROXY in both cases, PG*,
// SSH_AUTH_SOCK, cloud credentials, and whatever tomorrow adds. Callers add
// back what a child needs explicitly (e.g. DOCKER_HOST from DockerApproval).
var keptEnv = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true,
	"LANG": true, "LANGUAGE": true, "TERM": true, "COLORTERM": true, "NO_COLOR": true,
	"TMPDIR": true, "TMP": true, "TEMP": true, "TZ": true, "CI": true, "GOCOVERDIR": true,
	// Windows needs these to start anything at all.
	"SYSTEMROOT": true, "WINDIR": true, "COMSPEC": true, "PATHEXT": true,
	"USERPROFILE": true, "APPDATA": true, "LOCALAPPDATA": true, "PROGRAMDATA": true,
}

// keptEnvPrefixes are kept too: locale, XDG base dirs and labsbx's own.
var keptEnvPrefixes = []string{"LC_", "XDG_", "LABSBX_"}

// ScrubbedEnv returns the environment for child processes: environ (usually
// os.Environ()) filtered through an allow-list. See keptEnv.
func ScrubbedEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if keepEnv(k) {
			out = append(out, kv)
		}
	}
	return out
}

func keepEnv(k string) bool {
	if runtime.GOOS == "windows" { // names are case-insensitive there
		k = strings.ToUpper(k)
	}
	if keptEnv[k] {
		return true
	}
	for _, p := range keptEnvPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// identityEnv is all a command run as a sandbox identity (`labsbx exec`, `labsbx ci
// exec`) keeps of the caller's environment besides the sandbox's variables: what finds
// programs and files and renders output. It is narrower than keptEnv: that command
// holds a sandbox token, so not even LABSBX_*, XDG_* or CI reach it, and whatever else
// the shell holds (a production VAULT_ADDR or VAULT_TOKEN, PG*, KUBECONFIG, cloud
// credentials) does not either.
var identityEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

// IdentityEnv is identityEnv's variables that getenv has, as KEY=VALUE.
func IdentityEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range identityEnv {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}
