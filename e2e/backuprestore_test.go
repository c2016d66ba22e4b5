package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestE2EBackupRestoreRecoversAfterAKill kills labsbx (SIGKILL, through the failpoint
// build) at each step of backup-restore, from Vault stopped for the backup to the
// restored container not yet recorded; every time `drill recover` must bring the
// sandbox back with every version of the KV data, and the drill then run again.
func TestE2EBackupRestoreRecoversAfterAKill(t *testing.T) {
	c := newLocalImagesCLI(t)
	c.bin = failpointBinary(t)
	name := sandboxName("bkpkill")
	t.Cleanup(func() { c.run("down", "--name", name) })
	c.ok("up", "--profile", "vault", "--name", name)
	const path = "kvv2/webapp/config"
	c.ok("vault", "--name", name, "--", "kv", "put", path, "from=e2e", "round=1")
	c.ok("vault", "--name", name, "--", "kv", "put", path, "from=e2e", "round=2")
	// kv is every version of the app's config, as the Vault CLI reads them.
	kv := func(label string) string {
		t.Helper()
		var meta struct {
			Data struct {
				CurrentVersion int `json:"current_version"`
			} `json:"data"`
		}
		r := c.ok("vault", "--name", name, "--", "kv", "metadata", "get", "-format=json", path)
		if err := json.Unmarshal([]byte(r.stdout), &meta); err != nil {
			t.Fatalf("%s: kv metadata get: %v", label, err)
		}
		var out []string
		for v := 1; v <= meta.Data.CurrentVersion; v++ {
			r := c.ok("vault", "--name", name, "--", "kv", "get", "-format=json", "-version="+strconv.Itoa(v), path)
			var s struct {
				Data struct {
					Data map[string]any `json:"data"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
				t.Fatalf("%s: kv get -version=%d: %v", label, v, err)
			}
			b, _ := json.Marshal(s.Data.Data)
			out = append(out, strconv.Itoa(v)+":"+string(b))
		}
		return strings.Join(out, " ")
	}
	want := kv("before")
	if !strings.Contains(want, `"from":"e2e","round":"1"`) || !strings.Contains(want, `"from":"e2e","round":"2"`) {
		t.Fatalf("the data written: %s", want)
	}
	for _, fp := range []string{"backup-vault-stopped", "backup-taken", "backup-data-destroyed", "restore-container-created", "vault-restored"} {
		c.env["LABSBX_FAILPOINT"] = fp
		r := c.run("drill", "run", "backup-restore", "--name", name)
		delete(c.env, "LABSBX_FAILPOINT")
		if r.code != -1 {
			t.Fatalf("killed at %s: exit %d, want killed\n%s%s", fp, r.code, r.stdout, r.stderr)
		}
		rec := c.run("drill", "recover", "--name", name)
		if rec.code != 0 {
			t.Fatalf("killed at %s: drill recover: exit %d\n%s%s", fp, rec.code, rec.stdout, rec.stderr)
		}
		t.Logf("killed at %s; drill recover: %s", fp, strings.TrimSpace(rec.stdout))
		if got := kv("after a kill at " + fp); got != want {
			t.Errorf("killed at %s: the KV data after drill recover is %s, want %s", fp, got, want)
		}
		if r := c.ok("drill", "recover", "--name", name); !strings.Contains(r.stdout, "no pending drill fault") {
			t.Errorf("killed at %s: a second recover:\n%s", fp, r.stdout)
		}
	}
	c.ok("drill", "run", "backup-restore", "--name", name)
	if got := kv("after the last drill"); got != want {
		t.Errorf("the KV data after the last drill is %s, want %s", got, want)
	}
}
