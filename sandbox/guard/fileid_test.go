//go:build unix

package guard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hard link keeps a file's identity under another name: the guard judges key paths
// by identity, so a link to a key in ~/.arcodange is one, wherever it is.
func TestKeyPathsByIdentity(t *testing.T) {
	e := newKeyEnv(t)
	prod := filepath.Join(e.home, ".arcodange", "cluster-keys.json")
	linked := filepath.Join(e.outside, "innocent.json")
	if err := os.Link(prod, linked); err != nil {
		t.Skipf("hard links: %v", err)
	}
	stateLink := filepath.Join(e.state, "keys.json")
	if err := os.Link(prod, stateLink); err != nil {
		t.Fatal(err)
	}
	homes := []string{e.home}
	if err := keyFileRefusal("token file", linked, homes); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), ".arcodange") {
		t.Errorf("a hard link to production's key: %v", err)
	}
	if err := keyFileRefusal("token file", filepath.Join(e.outside, "existing.json"), homes); err != nil {
		t.Errorf("an ordinary file: %v", err)
	}
	rec := Record{Name: "demo", UUID: fxUUID, StateDir: e.state}
	if _, _, err := approveKeyPath(rec, stateLink, homes); !errors.Is(err, ErrRefused) {
		t.Errorf("a key path in the state dir that is production's key by identity: %v", err)
	}
	scope := WriteScope{Homes: homes}
	if _, err := ApproveWrite(linked, KubeconfigFormat, scope); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), ".arcodange") {
		t.Errorf("a write to a hard link of production's key: %v", err)
	}
}

// A kubeconfig user whose token file, client certificate or key, or CA file is a key
// path is refused at key-files or ca-file, before the credentials step opens it.
func TestKubeconfigKeyFiles(t *testing.T) {
	e := newKeyEnv(t)
	t.Setenv("HOME", e.home)
	ca, err := os.ReadFile(filepath.Join(fixtureDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	arc := filepath.Join(e.home, ".arcodange")
	for _, f := range []string{"token", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(arc, f), append([]byte(nil), ca...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hard := filepath.Join(e.outside, "token")
	if err := os.Link(filepath.Join(arc, "token"), hard); err != nil {
		t.Skipf("hard links: %v", err)
	}
	if err := os.Symlink(arc, filepath.Join(e.outside, "keys")); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(fixtureDir, "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	caData := "certificate-authority-data: " + strings.SplitN(strings.SplitN(string(good), "certificate-authority-data: ", 2)[1], "\n", 2)[0]
	for label, tc := range map[string]struct{ user, cluster, step string }{
		"tokenFile in ~/.arcodange":      {"tokenFile: " + filepath.Join(arc, "token"), "", "key-files"},
		"tokenFile, a hard link":         {"tokenFile: " + hard, "", "key-files"},
		"tokenFile through a symlink":    {"tokenFile: " + filepath.Join(e.outside, "keys", "token"), "", "key-files"},
		"client-key in ~/.arcodange":     {"client-certificate: " + hard + "\n    client-key: " + filepath.Join(arc, "token"), "", "key-files"},
		"tokenFile named cluster-keys":   {"tokenFile: " + filepath.Join(e.outside, "cluster-keys.json"), "", "key-files"},
		"CA file in ~/.arcodange":        {"token: t", "certificate-authority: " + filepath.Join(arc, "ca.crt"), "ca-file"},
		"CA file, a relative hard link":  {"token: t", "certificate-authority: token", "ca-file"},
		"an ordinary token file":         {"tokenFile: " + filepath.Join(e.outside, "existing.json"), "", ""},
		"an ordinary inline credentials": {"token: t", "", ""},
	} {
		cluster := tc.cluster
		if cluster == "" {
			cluster = caData
		}
		kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: k3d-labsbx-demo\n  cluster:\n    server: https://0.0.0.0:34567\n    " + cluster +
			"\ncontexts:\n- name: k3d-labsbx-demo\n  context:\n    cluster: k3d-labsbx-demo\n    user: admin@k3d-labsbx-demo\nusers:\n- name: admin@k3d-labsbx-demo\n  user:\n    " + tc.user + "\n"
		p := filepath.Join(e.outside, "kubeconfig")
		if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, rep, err := ApproveKube(fixtureRecord(t), []string{p}, fxCtx)
		last := ""
		if n := len(rep.Checks); n > 0 && !rep.Checks[n-1].OK {
			last = rep.Checks[n-1].Name
		}
		switch {
		case tc.step == "" && err != nil && last != "credentials":
			t.Errorf("%s: %v", label, err)
		case tc.step != "" && (!errors.Is(err, ErrRefused) || last != tc.step):
			t.Errorf("%s: refused at %q (%v), want at %q", label, last, err, tc.step)
		}
	}
}
