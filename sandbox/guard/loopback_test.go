package guard

import (
	"strings"
	"testing"
)

func TestLoopbackLiteral(t *testing.T) {
	yes := []string{"127.0.0.1", "127.255.255.254", "127.0.0.2", "::1", "localhost", "0.0.0.0"}
	no := []string{
		"", "LOCALHOST", "localhost.", "localhost.localdomain", "ip6-localhost", "127.0.0.1.nip.io", "localtest.me",
		"::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:0:0:1", "::1%lo", "[::1]", "0177.0.0.1", "0x7f.0.0.1",
		"2130706433", "127.1", "127.0.1", "127.000.000.001", "128.0.0.1", "192.168.1.10", "10.0.0.1", "::",
		"0", "0.0.0.0.0", "l\u043ecalhost", "\uff11\uff12\uff17.0.0.1", "127.0.0.1 ", " 127.0.0.1",
	}
	for _, h := range yes {
		if !loopbackLiteral(h) {
			t.Errorf("loopbackLiteral(%q) = false", h)
		}
	}
	for _, h := range no {
		if loopbackLiteral(h) {
			t.Errorf("loopbackLiteral(%+q) = true", h)
		}
	}
}

func TestParseEndpointKeepsSecretsOut(t *testing.T) {
	for _, raw := range []string{
		"https://admin:SECRET@0.0.0.0:34567",
		"https://0.0.0.0:34567?token=SECRET",
		"https://0.0.0.0:34567#SECRET",
		"https://admin:SECRET@192.168.1.10:6443",
		"https://admin:SECRET@l\u043ecalhost:6443",
		"http://SECRET@127.0.0.1",
	} {
		_, err := parseEndpoint(raw, "https", "http")
		if err == nil {
			t.Errorf("parseEndpoint(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("parseEndpoint(%q) leaks: %v", raw, err)
		}
	}
}
