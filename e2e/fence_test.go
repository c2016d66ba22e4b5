package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/scenarios/report"
)

// hostListener answers every connection to addr with a tiny HTTP response naming
// word, and counts them: what a fenced command must not reach.
func hostListener(t *testing.T, addr, word string, hits *atomic.Int32) string {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s\n", len(word)+1, word)
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

// hostAddress is an IPv4 address of this host that is not loopback.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, _, err := net.ParseCIDR(a.String()); err == nil && ip.To4() != nil && !ip.IsLoopback() {
			return ip.String()
		}
	}
	testenv.Require(t, "a non-loopback IPv4 address on this host", "any network interface")
	return ""
}

// TestE2EFence attacks the fence around what labsbx runs for the user: a command of
// `labsbx exec` and a drill file's runbook and probe each try a listener of the host
// on another loopback port and on a LAN address, built at run time so that the text
// checks cannot see them. Both must fail to connect, while the sandbox's Vault and
// Postgres answer through the fence, and HOME is the sandbox's own.
func TestE2EFence(t *testing.T) {
	for _, tool := range []string{"curl", "jq", "psql"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Require(t, tool, "apt-get install curl jq postgresql-client")
		}
	}
	var hits atomic.Int32
	other := hostListener(t, "127.0.0.1:0", "other-loopback-listener", &hits)
	_, lanPort, _ := net.SplitHostPort(hostListener(t, "0.0.0.0:0", "lan-listener", &hits))
	lan := net.JoinHostPort(hostAddress(t), lanPort)

	c := newLocalImagesCLI(t)
	callerHome := t.TempDir()
	c.env["HOME"] = callerHome
	name := sandboxName("e2efence")
	t.Cleanup(func() { c.run("down", "--name", name) })
	c.ok("up", "--profile", "vault", "--name", name)
	sandboxHome := filepath.Join(c.home, name, "home")

	// The addresses are assembled by the shell: no URL, no -h, nothing the text checks read.
	attack := fmt.Sprintf(`o=%s; l=%s; curl -s --max-time 3 "$o/"; echo "other=$?"; curl -s --max-time 3 "$l/"; echo "lan=$?"; echo "home=$HOME"`,
		strings.Replace(other, ":", `":"`, 1), strings.Replace(lan, ":", `":"`, 1))

	// labsbx exec: the attack fails, the handed-out Vault and Postgres answer.
	r := c.ok("exec", "--name", name, "--", "sh", "-c", attack+`; curl -s --max-time 5 "$VAULT_ADDR/v1/sys/health"; echo; psql -tAc 'select 40 + 2'`)
	checkFenced(t, "labsbx exec", r.stdout, sandboxHome, callerHome)
	if !strings.Contains(r.stdout, `"initialized":true`) || !strings.Contains(r.stdout, "\n42\n") {
		t.Errorf("labsbx exec: the sandbox's Vault or Postgres did not answer through the fence:\n%s\n%s", r.stdout, r.stderr)
	}
	if r := c.ok("exec", "--name", name, "--", "psql", "-tAc", "select current_user"); strings.TrimSpace(r.stdout) != "postgres" {
		t.Errorf("labsbx exec -- psql: %q\n%s", r.stdout, r.stderr)
	}
	if n := hits.Swap(0); n != 0 {
		t.Errorf("labsbx exec: the host listeners outside the sandbox took %d connections", n)
	}

	// The clients of labsbx psql and labsbx vault: a \connect read from stdin (no
	// argument the client checks see) to the host's LAN address finds no route; the
	// sandbox's own Postgres and Vault answer.
	lanHost, _, _ := net.SplitHostPort(lan)
	psqlIn := c.command("psql", "--name", name)
	psqlIn.Stdin = strings.NewReader(fmt.Sprintf("select 'sandbox-' || 42;\n\\connect 'host=%s port=%s dbname=x user=x connect_timeout=3'\n", lanHost, lanPort))
	psqlOut, _ := psqlIn.CombinedOutput()
	if !strings.Contains(string(psqlOut), "sandbox-42") {
		t.Errorf("labsbx psql: the sandbox's Postgres did not answer:\n%s", psqlOut)
	}
	// No route at all, not a refusal by the host or a firewall.
	if !strings.Contains(string(psqlOut), "Network is unreachable") {
		t.Errorf("labsbx psql: the \\connect to %s did not find the network unreachable:\n%s", lan, psqlOut)
	}
	if n := hits.Swap(0); n != 0 {
		t.Errorf("labsbx psql: a \\connect reached a host listener outside the sandbox (%d connections):\n%s", n, psqlOut)
	}
	if r := c.ok("vault", "--name", name, "--", "status"); !strings.Contains(r.stdout, "Sealed") {
		t.Errorf("labsbx vault -- status:\n%s\n%s", r.stdout, r.stderr)
	}
	// A drill file: its steady probe and its runbook are fenced the same way.
	dir := t.TempDir()
	unsealSh, err := os.ReadFile(example("unseal.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "unseal.sh"), unsealSh, 0o755); err != nil {
		t.Fatal(err)
	}
	drill := filepath.Join(dir, "fenced.yaml")
	doc := "apiVersion: labsbx.dev/v1alpha1\nkind: Drill\nmetadata:\n  name: fenced\nspec:\n" +
		"  steady:\n    - command:\n        run: " + yamlQuote(attack) + "\n        output: 'other=[1-9]'\n" +
		"  fault:\n    builtin: seal\n  symptom:\n    - vault: sealed\n" +
		"  recovery:\n    run: " + yamlQuote(attack+"; ./unseal.sh") + "\n" +
		"  verify:\n    - vault: unsealed\n"
	if err := os.WriteFile(drill, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	c.json(&rep, "drill", "run", "-f", drill, "--name", name)
	if len(rep.Scenarios) != 1 || rep.Result != report.ResultPassed {
		t.Fatalf("fenced drill: %+v", rep)
	}
	var out strings.Builder
	for _, o := range rep.Scenarios[0].Output {
		out.WriteString(o.Output)
	}
	checkFenced(t, "drill file runbook", out.String(), sandboxHome, callerHome)
	if n := hits.Load(); n != 0 {
		t.Errorf("drill file: the host listeners outside the sandbox took %d connections", n)
	}
	if !strings.Contains(out.String(), "Vault is unsealed and active") {
		t.Errorf("the runbook did not unseal through the fence:\n%s", out.String())
	}
}

// checkFenced reads the attack's output: neither listener answered, HOME is the
// sandbox's.
func checkFenced(t *testing.T, label, out, sandboxHome, callerHome string) {
	t.Helper()
	for _, leak := range []string{"other-loopback-listener", "lan-listener", "other=0", "lan=0"} {
		if strings.Contains(out, leak) {
			t.Errorf("%s: a host listener outside the sandbox answered (%s):\n%s", label, leak, out)
		}
	}
	if !strings.Contains(out, "other=7") || !strings.Contains(out, "lan=7") {
		t.Errorf("%s: want curl to fail to connect (exit 7) to both host listeners:\n%s", label, out)
	}
	if !strings.Contains(out, "home="+sandboxHome+"\n") || strings.Contains(out, "home="+callerHome+"\n") {
		t.Errorf("%s: HOME is not the sandbox's own %s:\n%s", label, sandboxHome, out)
	}
}

// yamlQuote is s as a YAML single-quoted scalar.
func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
