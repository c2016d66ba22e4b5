package guard

import (
	"slices"
	"testing"
)

func TestScrubbedEnv(t *testing.T) {
	in := []string{
		"PATH=/usr/bin", "HOME=/home/me", "LANG=C.UTF-8", "LC_ALL=C", "TERM=xterm", "TMPDIR=/tmp",
		"XDG_CACHE_HOME=/home/me/.cache", "LABSBX_HOME=/tmp/l", "CI=true", "GOCOVERDIR=/tmp/cov",
		"VAULT_ADDR=https://vault.prod:8200", "VAULT_TOKEN=s.prod", "VAULT_NAMESPACE=x", "VAULT_CACERT=/ca",
		"KUBECONFIG=/home/me/.kube/prod", "DOCKER_HOST=ssh://prod", "DOCKER_CONTEXT=prod",
		"DOCKER_CERT_PATH=/c", "DOCKER_TLS_VERIFY=1", "HTTP_PROXY=http://p", "http_proxy=http://p",
		"HTTPS_PROXY=http://p", "https_proxy=http://p", "ALL_PROXY=socks5://p", "all_proxy=socks5://p",
		"NO_PROXY=*", "no_proxy=*", "PGPASSWORD=pw", "PGHOST=db.prod", "PGUSER=u", "PGSERVICEFILE=/f",
		"SSH_AUTH_SOCK=/tmp/agent", "AWS_SECRET_ACCESS_KEY=x", "GITEA_TOKEN=x",
		"path=/lowercase-is-not-PATH", "NOEQUALS", "=C:=C:\\",
	}
	got := ScrubbedEnv(in)
	want := []string{
		"PATH=/usr/bin", "HOME=/home/me", "LANG=C.UTF-8", "LC_ALL=C", "TERM=xterm", "TMPDIR=/tmp",
		"XDG_CACHE_HOME=/home/me/.cache", "LABSBX_HOME=/tmp/l", "CI=true", "GOCOVERDIR=/tmp/cov",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ScrubbedEnv =\n%q\nwant\n%q", got, want)
	}
}
