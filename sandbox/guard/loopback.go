package guard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// loopbackLiteral reports whether host (without brackets) is one of the only
// spellings of "this machine" the guard accepts. Nothing is resolved: a name
// is accepted only if it is exactly "localhost".
//   - an IPv4 address in 127.0.0.0/8, in canonical dotted-decimal form
//     (so not 0177.0.0.1, 2130706433 or 127.1);
//   - "::1" exactly (not 0:0:0:0:0:0:0:1, not ::ffff:127.0.0.1, no zone);
//   - "localhost" exactly, ASCII;
//   - "0.0.0.0", which k3d writes into kubeconfigs.
func loopbackLiteral(host string) bool {
	switch host {
	case "localhost", "0.0.0.0", "::1":
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return false
	}
	return a.String() == host && a.IsLoopback()
}

// endpoint is a parsed, approved-shape URL: scheme://host:port and nothing else.
type endpoint struct {
	scheme string
	host   string // without brackets
	port   int
}

// hostPort is the host:port string an HTTP transport dials for this endpoint.
func (e endpoint) hostPort() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// String is the canonical form: scheme://host:port.
func (e endpoint) String() string { return e.scheme + "://" + e.hostPort() }

// parseEndpoint parses raw as scheme://<loopback literal>:<port>, with an
// optional trailing "/", for one of the given schemes. It never resolves.
func parseEndpoint(raw string, schemes ...string) (endpoint, error) {
	if raw == "" {
		return endpoint{}, errors.New("address is empty")
	}
	if !isASCIIPrintable(raw) {
		return endpoint{}, fmt.Errorf("address %+q contains spaces, control or non-ASCII characters", display(raw))
	}
	scheme := ""
	for _, s := range schemes {
		if strings.HasPrefix(raw, s+"://") {
			scheme = s
		}
	}
	if scheme == "" {
		return endpoint{}, fmt.Errorf("address %q must start with %s://", display(raw), strings.Join(schemes, ":// or "))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("address %q does not parse as a URL", display(raw))
	}
	switch {
	case u.User != nil:
		return endpoint{}, fmt.Errorf("address %q carries userinfo", display(raw))
	case u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return endpoint{}, fmt.Errorf("address %q has a query, fragment or opaque part", display(raw))
	case u.Path != "" && u.Path != "/" || u.RawPath != "":
		return endpoint{}, fmt.Errorf("address %q has a path (%q); a sandbox address has none", display(raw), u.Path)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		return endpoint{}, fmt.Errorf("address %q has no port", display(raw))
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return endpoint{}, fmt.Errorf("address %q has an invalid port %q", display(raw), port)
	}
	if !loopbackLiteral(host) {
		return endpoint{}, fmt.Errorf("host %+q in %q is not a loopback literal (127.x.y.z, ::1, localhost or 0.0.0.0); names are never resolved", host, display(raw))
	}
	e := endpoint{scheme: scheme, host: host, port: p}
	if u.Host != net.JoinHostPort(host, port) {
		return endpoint{}, fmt.Errorf("address %q has an unusual host form %q", display(raw), u.Host)
	}
	return e, nil
}

// display is raw as it may appear in a reason: no userinfo, query or
// fragment (where credentials hide).
func display(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i] + "?<redacted>"
	}
	return redactUserinfo(raw)
}

// redactUserinfo drops the userinfo of a URL-looking string so that a
// password never reaches an error message.
func redactUserinfo(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "<unparsable>"
	}
	rest := raw[i+3:]
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return raw[:i+3] + "<userinfo>@" + rest[at+1:]
	}
	return raw
}

// pinnedDialer dials only the approved endpoint. Every client the guard builds
// uses it, so that even a caller who rewrites a client's address (or a server
// that redirects) cannot reach another host. "localhost" and "0.0.0.0" are
// dialled as loopback IPs: nothing is resolved.
type pinnedDialer struct {
	want string   // host:port exactly as the HTTP transport will ask for it
	ips  []string // loopback IPs to dial, in order
	port string
}

func newPinnedDialer(e endpoint) *pinnedDialer {
	ips := []string{e.host}
	switch e.host {
	case "localhost":
		ips = []string{"127.0.0.1", "::1"}
	case "0.0.0.0":
		ips = []string{"127.0.0.1"}
	}
	return &pinnedDialer{want: e.hostPort(), ips: ips, port: strconv.Itoa(e.port)}
}

func (d *pinnedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != d.want {
		return nil, refusef("dial to %q refused: this client is pinned to %q", addr, d.want)
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, refusef("dial over %q refused: tcp only", network)
	}
	nd := net.Dialer{Timeout: 10 * time.Second}
	var errs []error
	for _, ip := range d.ips {
		c, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(ip, d.port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
