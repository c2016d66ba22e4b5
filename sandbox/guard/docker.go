package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// Labels labsbx puts on every container, network and volume it creates:
// dev.labsbx.sandbox=<name> (what `down` finds objects by), dev.labsbx.component,
// and dev.labsbx.uuid=<sandbox UUID>, the identity: two state roots can hold
// sandboxes with the same name, so the name alone proves nothing.
const (
	LabelSandbox   = "dev.labsbx.sandbox"
	LabelComponent = "dev.labsbx.component"
	LabelUUID      = "dev.labsbx.uuid"
)

// DockerApproval is the guard's approval of the local Docker engine. It can
// only be obtained from ApproveDocker; its zero value refuses.
type DockerApproval struct {
	host string
}

type dockerRun struct {
	getenv func(string) string
	goos   string
	chosen string
	source string
}

// ApproveDocker approves the local Docker engine, as selected by the given
// environment (pass os.Getenv): DOCKER_HOST only if it is a unix:// socket
// (npipe:// on Windows) or tcp:// on a loopback literal; without DOCKER_HOST,
// the docker context named by DOCKER_CONTEXT or by the docker config's
// currentContext must pass the same rule. ssh:// is refused.
func ApproveDocker(getenv func(string) string) (DockerApproval, error) {
	a, _, err := approveDocker(getenv, runtime.GOOS)
	return a, err
}

func approveDocker(getenv func(string) string, goos string) (DockerApproval, Report, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	r := &dockerRun{getenv: getenv, goos: goos}
	rep := Report{Approved: true, Checks: []CheckResult{}}
	if err := runSteps(&rep, "docker engine", dockerChecks, r); err != nil {
		return DockerApproval{}, rep, err
	}
	return DockerApproval{host: r.chosen}, rep, nil
}

func (r *dockerRun) host() (string, error) {
	h := r.getenv("DOCKER_HOST")
	if h == "" {
		return "DOCKER_HOST not set", nil
	}
	if err := r.validHost(h); err != nil {
		return "", refusef("DOCKER_HOST: %w", err)
	}
	r.chosen, r.source = h, "DOCKER_HOST"
	return h, nil
}

func (r *dockerRun) context() (string, error) {
	if r.chosen != "" {
		return "DOCKER_HOST takes precedence over docker contexts", nil
	}
	cfgDir := r.getenv("DOCKER_CONFIG")
	if cfgDir == "" {
		if home := r.getenv("HOME"); home != "" {
			cfgDir = filepath.Join(home, ".docker")
		}
	}
	name, src := r.getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" && cfgDir != "" {
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		data, err := readRegularFile(filepath.Join(cfgDir, "config.json"), maxKubeconfigSize)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return "", refusef("docker config: %w", err)
		default:
			if err := json.Unmarshal(data, &cfg); err != nil {
				return "", refusef("docker config %q is malformed: %s", filepath.Join(cfgDir, "config.json"), jsonErrReason(err))
			}
		}
		name, src = cfg.CurrentContext, "docker config currentContext"
	}
	if name == "" || name == "default" {
		r.chosen, r.source = client.DefaultDockerHost, "default"
		return "default engine " + client.DefaultDockerHost, nil
	}
	if cfgDir == "" {
		return "", refusef("docker context %q (%s) cannot be located: no DOCKER_CONFIG or HOME", name, src)
	}
	sum := sha256.Sum256([]byte(name))
	metaPath := filepath.Join(cfgDir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	data, err := readRegularFile(metaPath, maxKubeconfigSize)
	if err != nil {
		return "", refusef("docker context %q (%s): %w", name, src, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return "", refusef("docker context %q metadata is malformed: %s", name, jsonErrReason(err))
	}
	h := meta.Endpoints["docker"].Host
	if h == "" {
		return "", refusef("docker context %q (%s) has no docker endpoint", name, src)
	}
	if err := r.validHost(h); err != nil {
		return "", refusef("docker context %q (%s): %w", name, src, err)
	}
	r.chosen, r.source = h, "context "+name
	return fmt.Sprintf("context %q: %s", name, h), nil
}

// validHost accepts only engines on this machine.
func (r *dockerRun) validHost(h string) error {
	switch {
	case strings.HasPrefix(h, "unix://"):
		p := strings.TrimPrefix(h, "unix://")
		if r.goos == "windows" || !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || !isASCIIPrintable(p) {
			return fmt.Errorf("%q is not an absolute unix socket path", h)
		}
		return nil
	case strings.HasPrefix(h, "npipe://"):
		if r.goos != "windows" {
			return fmt.Errorf("%q: npipe:// is only for Windows", h)
		}
		return nil
	case strings.HasPrefix(h, "tcp://"):
		if _, err := parseEndpoint(h, "tcp"); err != nil {
			return fmt.Errorf("remote engine refused: %w", err)
		}
		return nil
	case strings.HasPrefix(h, "ssh://"):
		return fmt.Errorf("%q: ssh:// engines are remote; labsbx only drives the local engine", redactUserinfo(h))
	}
	return fmt.Errorf("%q is not a local engine (unix://, or tcp:// on loopback)", redactUserinfo(h))
}

// Host returns the approved engine address, for child processes that need
// DOCKER_HOST ("" for a zero approval).
func (a DockerApproval) Host() string { return a.host }

// Client builds a Docker client for the approved engine only: explicit host,
// API version negotiation (the engine may be as old as 20.10, API 1.41), and
// for tcp:// a pinned, proxy-free transport.
func (a DockerApproval) Client() (*client.Client, error) {
	if a.host == "" {
		return nil, zeroRefusal("DockerApproval")
	}
	opts := []client.Opt{client.WithHost(a.host), client.WithAPIVersionNegotiation()}
	if strings.HasPrefix(a.host, "tcp://") {
		e, err := parseEndpoint(a.host, "tcp")
		if err != nil {
			return nil, refusef("docker host: %w", err)
		}
		d := newPinnedDialer(e)
		hc := &http.Client{
			Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, MaxIdleConns: 6, IdleConnTimeout: 30 * time.Second},
			CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				return refusef("docker redirect to %q refused", req.URL.Host)
			},
		}
		opts = append(opts, client.WithHTTPClient(hc)) // after WithHost, which would set ProxyFromEnvironment
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("building docker client for %s: %w", a.host, err)
	}
	return c, nil
}
