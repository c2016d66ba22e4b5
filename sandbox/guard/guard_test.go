package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureCAFingerprint is the hex sha256 of fixtures/guard/ca.crt's DER.
func fixtureCAFingerprint(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("fixtures/guard/ca.crt: no PEM")
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// fixtureRecord is the sandbox every kube fixture is judged against.
func fixtureRecord(t testing.TB) Record {
	return Record{
		Name:     fxName,
		UUID:     fxUUID,
		StateDir: t.TempDir(),
		Kube: &KubeRecord{
			Context:       fxCtx,
			Cluster:       fxCtx,
			User:          fxUser,
			Server:        fxServer,
			CAFingerprint: fixtureCAFingerprint(t),
			MarkerWritten: true,
		},
	}
}

func fx(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(fixtureDir, n)
	}
	return out
}

// kubeCases is the adversarial table: each kubeconfig fixture, the context
// asked for, and the refusal the guard must give ("" means approved).
var kubeCases = []struct {
	files   []string
	context string
	want    string
}{
	// Approved.
	{fx("good.yaml"), fxCtx, ""},
	{fx("good-ca-file.yaml"), fxCtx, ""},
	{fx("good.yaml", "good-copy.yaml"), fxCtx, ""},
	{fx("fifty-contexts.yaml"), fxCtx, ""},
	{fx("good.yaml", "lan-server.yaml"), fxCtx, "differently"}, // a later file redefines the sandbox entries

	// Names.
	{fx("good.yaml"), "", "no kube context given"},
	{fx("good.yaml"), "k3d-labsbx-prod", "not the context of sandbox"},
	{fx("fifty-contexts.yaml"), "team-07", "not a labsbx sandbox context"},
	{fx("lookalike-context.yaml"), "k3d-l\u0430bsbx-demo", "non-ASCII"},
	{fx("missing-context.yaml"), fxCtx, `context "k3d-labsbx-demo" is not defined`},
	{fx("missing-cluster.yaml"), fxCtx, `cluster "k3d-labsbx-demo" is not defined`},
	{fx("user-mismatch.yaml"), fxCtx, "uses user entry"},
	{fx("swapped-cluster.yaml"), fxCtx, `points at cluster entry "prod"`},

	// Files.
	{nil, fxCtx, "no kubeconfig file given"},
	{fx("good.yaml", "does-not-exist.yaml"), fxCtx, "cannot read"},
	{fx("empty.yaml"), fxCtx, "is empty"},
	{fx("whitespace.yaml"), fxCtx, "is empty"},
	{fx("malformed.yaml"), fxCtx, "is malformed"},
	{fx("not-a-mapping.yaml"), fxCtx, "not a mapping"},
	{fx("duplicate-key.yaml"), fxCtx, "is malformed"},
	{fx("duplicate-context.yaml"), fxCtx, "twice"},
	{fx("wrong-api-version.yaml"), fxCtx, "want Config v1"},
	{fx("unknown-cluster-field.yaml"), fxCtx, "does not accept"},
	{fx("earlier-shadow-cluster.yaml", "good.yaml"), fxCtx, "differently"}, // an earlier file shadows the sandbox cluster entry
	{fx("later-shadow-context.yaml", "good.yaml"), fxCtx, "differently"},   // an earlier file shadows the sandbox context
	{fx("good.yaml", "later-shadow-context.yaml"), fxCtx, "differently"},   // a later file tries to shadow it
	{fx("good.yaml", "earlier-shadow-cluster.yaml"), fxCtx, "differently"}, // a later file tries to shadow the cluster

	// Servers.
	{fx("lan-server.yaml"), fxCtx, "not a loopback literal"},
	{fx("lan-server-our-ca.yaml"), fxCtx, "not a loopback literal"},
	{fx("cluster-entry-prod-body.yaml"), fxCtx, "not a loopback literal"},
	{fx("wrong-port.yaml"), fxCtx, "port 6443 is not the recorded port 34567"},
	{fx("loopback-other-ip.yaml"), fxCtx, "is not the recorded server"},
	{fx("localhost-domain.yaml"), fxCtx, "not a loopback literal"},
	{fx("localhost-trailing-dot.yaml"), fxCtx, "not a loopback literal"},
	{fx("nip-io.yaml"), fxCtx, "not a loopback literal"},
	{fx("localtest-me.yaml"), fxCtx, "not a loopback literal"},
	{fx("mapped-ipv6.yaml"), fxCtx, "not a loopback literal"},
	{fx("ipv6-long-form.yaml"), fxCtx, "not a loopback literal"},
	{fx("ipv6-zone.yaml"), fxCtx, "not a loopback literal"},
	{fx("decimal-ipv4.yaml"), fxCtx, "not a loopback literal"},
	{fx("octal-ipv4.yaml"), fxCtx, "not a loopback literal"},
	{fx("hex-ipv4.yaml"), fxCtx, "not a loopback literal"},
	{fx("short-ipv4.yaml"), fxCtx, "not a loopback literal"},
	{fx("lookalike-host.yaml"), fxCtx, "non-ASCII"},
	{fx("fullwidth-host.yaml"), fxCtx, "non-ASCII"},
	{fx("userinfo.yaml"), fxCtx, "userinfo"},
	{fx("http-scheme.yaml"), fxCtx, "must start with https://"},
	{fx("uppercase-scheme.yaml"), fxCtx, "must start with https://"},
	{fx("server-path.yaml"), fxCtx, "has a path"},
	{fx("server-query.yaml"), fxCtx, "query"},
	{fx("leading-zero-port.yaml"), fxCtx, "invalid port"},
	{fx("no-port.yaml"), fxCtx, "has no port"},

	// TLS and CA.
	{fx("proxy-url.yaml"), fxCtx, "proxy-url"},
	{fx("insecure.yaml"), fxCtx, "insecure-skip-tls-verify"},
	{fx("tls-server-name.yaml"), fxCtx, "tls-server-name"},
	{fx("wrong-ca.yaml"), fxCtx, "CA fingerprint"},
	{fx("ca-bundle.yaml"), fxCtx, "more than one PEM block"},
	{fx("no-ca.yaml"), fxCtx, "has no CA"},
	{fx("ca-file-missing.yaml"), fxCtx, "certificate-authority: cannot read"},

	// Users.
	{fx("exec-plugin.yaml"), fxCtx, `exec plugin "aws"`},
	{fx("auth-provider.yaml"), fxCtx, `auth-provider "oidc"`},
	{fx("impersonate.yaml"), fxCtx, "impersonates"},
}

func TestApproveKubeFixtures(t *testing.T) {
	rec := fixtureRecord(t)
	used := map[string]bool{}
	for _, tc := range kubeCases {
		name := strings.Join(baseNames(tc.files), "+") + "@" + tc.context
		t.Run(name, func(t *testing.T) {
			for _, f := range tc.files {
				used[filepath.Base(f)] = true
			}
			a, rep, err := ApproveKube(rec, tc.files, tc.context)
			assertDecision(t, a.st != nil, rep, err, tc.want)
			if tc.want == "" {
				if a.Server() != fxServer || a.Context() != fxCtx {
					t.Errorf("approval = %s %s", a.Context(), a.Server())
				}
				if _, err := a.RESTConfig(); err != nil {
					t.Errorf("RESTConfig: %v", err)
				}
			}
		})
	}
	// Every fixture file is in the table (the CAs excepted).
	entries, _ := os.ReadDir(fixtureDir)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			n++
			if !used[e.Name()] {
				t.Errorf("fixture %s is not in the table", e.Name())
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d kubeconfig fixtures; want at least 30", n)
	}
}

// assertDecision checks that a decision is consistent and matches want.
func assertDecision(t *testing.T, approved bool, rep Report, err error, want string) {
	t.Helper()
	js, _ := json.Marshal(rep)
	for _, secret := range []string{fxToken, "hunter2"} {
		if err != nil && strings.Contains(err.Error(), secret) || strings.Contains(string(js), secret) {
			t.Errorf("a secret leaked into the decision: %v / %s", err, js)
		}
	}
	if rep.Approved != (err == nil) || approved != (err == nil) {
		t.Errorf("inconsistent decision: approved=%v report=%v err=%v", approved, rep.Approved, err)
	}
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v\nreport: %s", err, js)
		}
		return
	}
	if err == nil {
		t.Fatalf("approved, want refusal containing %q\nreport: %s", want, js)
	}
	if !errors.Is(err, ErrRefused) || !strings.HasPrefix(err.Error(), "refused: ") {
		t.Errorf("error %v is not a refusal", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q does not contain %q", err, want)
	}
	if rep.Reason == "" || "refused: "+rep.Reason != err.Error() {
		t.Errorf("report reason %q does not match error %q", rep.Reason, err)
	}
	if last := rep.Checks[len(rep.Checks)-1]; last.OK {
		t.Errorf("last check %s is OK on a refusal", last.Name)
	}
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

func TestApproveKubeRecord(t *testing.T) {
	good := fx("good.yaml")
	cases := []struct {
		name string
		mod  func(*Record)
		want string
	}{
		{"no cluster", func(r *Record) { r.Kube = nil }, "no sandbox named \"demo\" has a cluster; run `labsbx up --name demo`"},
		{"no uuid", func(r *Record) { r.UUID = "" }, "no UUID"},
		{"bad name", func(r *Record) { r.Name = "Demo" }, "invalid name"},
		{"context not derived from name", func(r *Record) { r.Kube.Context = "k3d-labsbx-other" }, "want \"k3d-labsbx-demo\""},
		{"recorded LAN server", func(r *Record) { r.Kube.Server = "https://192.168.1.10:6443" }, "recorded a server that is not ours"},
		{"no fingerprint", func(r *Record) { r.Kube.CAFingerprint = "" }, "no valid CA fingerprint"},
		{"recorded plugin missing from user", func(r *Record) { r.Kube.AuthPlugin = "aws" }, "has no auth plugin"},
		{"recorded other cluster entry", func(r *Record) { r.Kube.Cluster = "k3d-labsbx-demo-2" }, "points at cluster entry"},
		{"fingerprint with colons and caps", func(r *Record) {
			fp := strings.ToUpper(r.Kube.CAFingerprint)
			var parts []string
			for i := 0; i < len(fp); i += 2 {
				parts = append(parts, fp[i:i+2])
			}
			r.Kube.CAFingerprint = strings.Join(parts, ":")
		}, ""},
		{"recorded server with trailing slash", func(r *Record) { r.Kube.Server += "/" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := fixtureRecord(t)
			kr := *rec.Kube
			rec.Kube = &kr
			tc.mod(&rec)
			a, rep, err := ApproveKube(rec, good, fxCtx)
			assertDecision(t, a.st != nil, rep, err, tc.want)
		})
	}
}

func TestApproveKubeExecPluginRecorded(t *testing.T) {
	rec := fixtureRecord(t)
	rec.Kube.AuthPlugin = "aws"
	a, rep, err := ApproveKube(rec, fx("exec-plugin.yaml"), fxCtx)
	assertDecision(t, a.st != nil, rep, err, "")
	cfg, err := a.RESTConfig()
	if err != nil || cfg.ExecProvider == nil || cfg.ExecProvider.Command != "aws" {
		t.Fatalf("exec provider not carried: %v %+v", err, cfg)
	}
}

func TestApproveKubeSymlinks(t *testing.T) {
	rec := fixtureRecord(t)
	dir := t.TempDir()
	abs := func(n string) string { p, _ := filepath.Abs(filepath.Join(fixtureDir, n)); return p }
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := link("good", abs("good.yaml"))
	chain := link("chain", good)
	lan := link("lan", abs("lan-server.yaml"))
	loopA := filepath.Join(dir, "loop-a")
	link("loop-b", loopA)
	link("loop-a", filepath.Join(dir, "loop-b"))
	dangling := link("dangling", filepath.Join(dir, "nowhere.yaml"))
	// A relative CA path resolves against the link's directory, as kubectl does.
	caFile := link("ca-file", abs("good-ca-file.yaml"))
	devnull := link("devnull", os.DevNull)

	cases := []struct {
		path, want string
	}{
		{good, ""},
		{chain, ""},
		{lan, "not a loopback literal"},
		{loopA, "too many levels of symbolic links"},
		{dangling, "no such file"},
		{caFile, "certificate-authority: cannot read"},
		{devnull, "not a regular file"},
		{dir, "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			a, rep, err := ApproveKube(rec, []string{tc.path}, fxCtx)
			assertDecision(t, a.st != nil, rep, err, tc.want)
		})
	}
}
