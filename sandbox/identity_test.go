package sandbox

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// A command run as an identity sees the sandbox's variables and a few of the caller's
// (PATH, HOME, ...), never the rest of the caller's shell.
func TestExecLocalScrubsTheEnvironment(t *testing.T) {
	caller := map[string]string{
		"PATH": "/usr/bin:/bin", "HOME": "/home/u",
		"VAULT_ADDR": "https://vault.prod:8200", "VAULT_TOKEN": "hvs.production", "PGPASSWORD": "prod",
		"KUBECONFIG": "/home/u/.kube/config", "AWS_SECRET_ACCESS_KEY": "x", "LABSBX_HOME": "/home/u/.labsbx",
	}
	var out bytes.Buffer
	e := &ExecLocal{Args: []string{"env"}, Getenv: func(k string) string { return caller[k] }, Stdout: &out, Stderr: &out}
	code, err := e.Run(context.Background(), []EnvVar{{"VAULT_ADDR", "http://127.0.0.1:8201"}, {"VAULT_TOKEN", "hvs.sandbox"}})
	if err != nil || code != 0 {
		t.Fatalf("env: %d, %v\n%s", code, err, out.String())
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	slices.Sort(got)
	want := []string{"HOME=/home/u", "PATH=/usr/bin:/bin", "VAULT_ADDR=http://127.0.0.1:8201", "VAULT_TOKEN=hvs.sandbox"}
	if !slices.Equal(got, want) {
		t.Errorf("the command saw %q, want %q", got, want)
	}
}

func TestExecLocalPassesTheExitStatus(t *testing.T) {
	e := &ExecLocal{Args: []string{"sh", "-c", "exit 7"}, Getenv: func(k string) string { return map[string]string{"PATH": "/usr/bin:/bin"}[k] }}
	if code, err := e.Run(context.Background(), nil); code != 7 || err != nil {
		t.Errorf("exit 7: got %d, %v", code, err)
	}
	e.Args = []string{"labsbx-no-such-command"}
	if _, err := e.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing command: %v", err)
	}
	e.Args = nil
	if _, err := e.Run(context.Background(), nil); err == nil {
		t.Error("no command ran without an error")
	}
}

func TestCIJobVariables(t *testing.T) {
	get := func(vars []string, k string) string {
		for _, kv := range vars {
			if name, v, _ := strings.Cut(kv, "="); name == k {
				return v
			}
		}
		return "<unset>"
	}
	def := CIJob{}.vars("webapp")
	for k, want := range map[string]string{
		"GITHUB_REPOSITORY": "arcodange/webapp", "GITHUB_REPOSITORY_OWNER": "arcodange", "GITEA_REPOSITORY_NAME": "webapp",
		"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITEA_ACTIONS": "true", "CI": "true",
	} {
		if got := get(def, k); got != want {
			t.Errorf("default %s = %q, want %q", k, got, want)
		}
	}
	set := CIJob{Repository: "lab/billing", Ref: "refs/tags/v1.2.0", SHA: "abc", RunID: "42"}.vars("billing")
	for k, want := range map[string]string{
		"GITHUB_REPOSITORY": "lab/billing", "GITHUB_REPOSITORY_OWNER": "lab", "GITHUB_REF_NAME": "v1.2.0", "GITHUB_SHA": "abc", "GITHUB_RUN_ID": "42",
	} {
		if got := get(set, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
