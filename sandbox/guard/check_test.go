package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	rec := fixtureRecord(t)
	rec.Vault = &VaultRecord{Addr: "http://127.0.0.1:8200", ClusterID: "c0ffee"}
	good := fx("good.yaml")
	off := CheckOptions{Offline: true}
	cases := []struct {
		name string
		rec  *Record
		t    Target
		want string
	}{
		{"kube ours", nil, Target{Kubeconfig: good, Context: fxCtx}, ""},
		{"kube current-context", nil, Target{Kubeconfig: good}, ""},
		{"kube current-context foreign", nil, Target{Kubeconfig: fx("fifty-contexts.yaml")}, `"team-00" is not a labsbx sandbox context`},
		{"kube, vault and key", nil, Target{Kubeconfig: good, Context: fxCtx, VaultAddr: "http://127.0.0.1:8200", KeyPath: filepath.Join(rec.StateDir, "keys.json")}, ""},
		{"bad vault after good kube", nil, Target{Kubeconfig: good, Context: fxCtx, VaultAddr: "http://192.168.1.20:8200"}, "not a loopback literal"},
		{"bad key", nil, Target{KeyPath: "/root/.arcodange/cluster-keys.json"}, "cluster-keys.json"},
		{"nothing", nil, Target{}, "nothing to check"},
		{"no cluster recorded", &Record{Name: "demo", UUID: fxUUID}, Target{Kubeconfig: good, Context: fxCtx}, "no sandbox named \"demo\" has a cluster; run `labsbx up --name demo`"},
		{"no vault recorded", &Record{Name: "demo", UUID: fxUUID}, Target{VaultAddr: "http://127.0.0.1:8200"}, "run `labsbx up --name demo`"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rec
			if tc.rec != nil {
				r = *tc.rec
			}
			rep := Check(ctx, r, tc.t, off)
			assertDecision(t, rep.Approved, rep, rep.Err(), tc.want)
			if _, err := json.Marshal(rep); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A cluster that is ours offline but not running: Check approves and says so.
func TestCheckUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + ln.Addr().String()
	ln.Close()
	ca, _ := os.ReadFile(filepath.Join(fixtureDir, "ca.crt"))
	rec, files := sandboxFor(t, server, ca, true)
	rep := Check(context.Background(), rec, Target{Kubeconfig: files, Context: fxCtx}, CheckOptions{})
	if !rep.Approved {
		t.Fatalf("refused: %s", rep.Reason)
	}
	last := rep.Checks[len(rep.Checks)-1]
	if last.Name != "marker" || !strings.Contains(last.Detail, "unreachable") {
		t.Errorf("last check = %+v", last)
	}
}

// TestRefusalMakesNoConnection: a refused target is never dialled.
func TestRefusalMakesNoConnection(t *testing.T) {
	ctx := context.Background()
	ln := countingListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	here := fmt.Sprintf("https://127.0.0.1:%d", port)
	ours, _ := os.ReadFile(filepath.Join(fixtureDir, "ca.crt"))
	theirs, _ := os.ReadFile(filepath.Join(fixtureDir, "other-ca.crt"))

	// Kube: the record says 127.0.0.1:<port> with our CA; kubeconfigs point at
	// the listener with another CA, by a LAN-looking name, or by another spelling.
	rec, _ := sandboxFor(t, here, ours, true)
	dir := t.TempDir()
	write := func(name, server string, ca []byte) string {
		k := kc{ctx: fxCtx, cluster: fxCtx, user: fxUser, clusterBody: body(server, b64(ca))}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(k.render()), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kubeCases := map[string]string{
		write("wrong-ca", here, theirs):                                           "CA fingerprint",
		write("lan-name", fmt.Sprintf("https://kube.lan.example:%d", port), ours): "not a loopback literal",
		write("localhost", fmt.Sprintf("https://localhost:%d", port), ours):       "not the recorded server",
		write("mapped", fmt.Sprintf("https://[::ffff:127.0.0.1]:%d", port), ours): "not a loopback literal",
	}
	for path, want := range kubeCases {
		rep := Check(ctx, rec, Target{Kubeconfig: []string{path}, Context: fxCtx}, CheckOptions{})
		if rep.Approved || !strings.Contains(rep.Reason, want) {
			t.Errorf("%s: approved=%v reason=%q, want %q", filepath.Base(path), rep.Approved, rep.Reason, want)
		}
	}

	// Vault: the listener is on loopback but is not the recorded address.
	vrec := vaultRecord(fmt.Sprintf("http://127.0.0.1:%d", port+1), "c0ffee")
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	if rep := Check(ctx, vrec, Target{VaultAddr: addr}, CheckOptions{}); rep.Approved || !strings.Contains(rep.Reason, "not the recorded address") {
		t.Errorf("vault check: %+v", rep)
	}
	vrec.Vault.ClusterID = ""
	if _, err := ApproveVaultInit(ctx, vrec, addr, proofFor(vrec.Vault.Addr)); err == nil || !strings.Contains(err.Error(), "not the recorded address") {
		t.Errorf("ApproveVaultInit = %v", err)
	}
	// Recorded, but never initialised by labsbx: refused before dialling.
	vrec.Vault.Addr = addr
	if _, err := ApproveVault(ctx, vrec, proofFor(vrec.Vault.Addr)); err == nil {
		t.Error("ApproveVault approved a Vault without a recorded cluster_id")
	}
	if n := ln.accepted(); n != 0 {
		t.Errorf("refused targets were dialled %d times", n)
	}
}

func BenchmarkGuardCheck50Contexts(b *testing.B) {
	ctx := context.Background()
	rec := fixtureRecord(b)
	t := Target{Kubeconfig: fx("fifty-contexts.yaml"), Context: fxCtx}
	for b.Loop() {
		if rep := Check(ctx, rec, t, CheckOptions{Offline: true}); !rep.Approved {
			b.Fatal(rep.Reason)
		}
	}
}

// A hint keeps a refusal a refusal, with its reason first; other errors pass as they are.
func TestWithHint(t *testing.T) {
	r := refusef("container x is not the one labsbx recorded")
	err := WithHint(fmt.Errorf("open vault: %w", r), "run `labsbx status --name d`")
	var got *Refusal
	if !errors.As(err, &got) || !errors.Is(err, ErrRefused) || got.Error() != "refused: container x is not the one labsbx recorded; run `labsbx status --name d`" {
		t.Errorf("WithHint = %v", err)
	}
	plain := errors.New("not a refusal")
	if WithHint(plain, "hint") != plain || WithHint(nil, "hint") != nil { //nolint:errorlint // the very same error value is the point
		t.Error("WithHint changed an error that is not a refusal")
	}
}
