package guard

import (
	"errors"
	"strings"
	"testing"
)

// Every way a drill file's command could name production is refused before it runs.
func TestCheckRunbookRefusesProduction(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`vault operator unseal $(jq -r '.unseal_keys_b64[0]' ~/.arcodange/cluster-keys.json)`, ".arcodange"},
		{`cat $HOME/.ARCODANGE/keys`, ".arcodange"},
		{`KEYS=/backup/cluster-keys.json ./unseal.sh`, "cluster-keys.json"},
		{`VAULT_ADDR=https://vault.lab:8200 vault status`, "sets VAULT_ADDR"},
		{`export VAULT_TOKEN=hvs.x; vault status`, "sets VAULT_TOKEN"},
		{`env KUBECONFIG=/root/.kube/config kubectl get pods`, "sets KUBECONFIG"},
		{`PGHOST=db.lab psql -c 'select 1'`, "sets PGHOST"},
		{`DOCKER_HOST=tcp://nas:2375 docker ps`, "sets DOCKER_HOST"},
		{`LABSBX_UNSEAL_KEY_FILE=/elsewhere ./unseal.sh`, "sets LABSBX_UNSEAL_KEY_FILE"},
		{`vault status -address=https://vault.lab:8200`, "-address"},
		{`vault status --address https://x`, "--address"},
		{`kubectl --kubeconfig /root/.kube/config get pods`, "--kubeconfig"},
		{`kubectl --context=prod get pods`, "--context"},
		{`kubectl --server=https://10.0.0.1:6443 get pods`, "--server"},
		{`psql --host db.lab -c 'select 1'`, "--host"},
		{`curl -s https://vault.lab:8200/v1/sys/health`, "vault.lab:8200"},
		{`curl -s http://10.0.0.5:8200/v1/sys/health`, "10.0.0.5:8200"},
		{`psql postgres://postgres@db.lab:5432/app`, "db.lab:5432"},
	} {
		_, err := CheckRunbook("spec.recovery.run", tc.text)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a refusal naming %q", tc.text, err, tc.want)
		}
	}
}

// What the lab's runbooks do against the sandbox passes, and loopback URLs are handed
// on to be matched against the sandbox's endpoints.
func TestCheckRunbookAllowsSandboxWork(t *testing.T) {
	for _, text := range []string{
		`./unseal.sh`,
		`KEYS=${LABSBX_UNSEAL_KEY_FILE:?}; jq -r '.unseal_keys_b64[0]' "$KEYS"`,
		`curl -fsS "$VAULT_ADDR/v1/sys/health"`,
		`psql -v ON_ERROR_STOP=1 -f fix-grant.sql`,
		`echo "$VAULT_ADDR" "$PGHOST"`,
		`ANSIBLE_HOST_KEY_CHECKING=True ansible all -m ping`,
	} {
		if urls, err := CheckRunbook("x", text); err != nil || len(urls) != 0 {
			t.Errorf("%s: %v %v", text, urls, err)
		}
	}
	urls, err := CheckRunbook("x", "curl http://127.0.0.1:8200/v1/sys/health http://localhost:5432")
	if err != nil || len(urls) != 2 {
		t.Fatalf("loopback URLs: %v %v", urls, err)
	}
}

func TestApproveRunbookURL(t *testing.T) {
	eps := []string{"http://127.0.0.1:18200", "https://127.0.0.1:6443"}
	for _, ok := range []string{"http://127.0.0.1:18200/v1/sys/health", "http://localhost:18200", "https://127.0.0.1:6443/api"} {
		if err := ApproveRunbookURL("x", ok, eps); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://127.0.0.1:8200/v1/sys/health", "https://127.0.0.1:18200", "http://127.0.0.1:6443"} {
		if err := ApproveRunbookURL("x", bad, eps); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want a refusal", bad, err)
		}
	}
}

// A runbook gets the identity allow-list of the caller's environment and the
// sandbox's variables, nothing else.
func TestRunbookEnv(t *testing.T) {
	caller := map[string]string{"PATH": "/usr/bin", "HOME": "/home/op", "VAULT_ADDR": "https://prod", "VAULT_TOKEN": "prod", "KUBECONFIG": "/prod", "AWS_SECRET_ACCESS_KEY": "x", "LABSBX_HOME": "/x"}
	env := RunbookEnv(func(k string) string { return caller[k] }, []string{"VAULT_ADDR=http://127.0.0.1:1"})
	got := strings.Join(env, " ")
	if got != "PATH=/usr/bin HOME=/home/op VAULT_ADDR=http://127.0.0.1:1" {
		t.Errorf("env = %s", got)
	}
}
