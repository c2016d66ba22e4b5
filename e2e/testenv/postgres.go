package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver for the wait strategy
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// PostgresServer is a real Postgres server in a Docker container started from
// PostgresImage. The container is removed when the test ends.
type PostgresServer struct {
	Host     string // host to dial from the test process
	Port     string // mapped host port of 5432/tcp
	User     string // superuser
	Password string
	Database string
	// Container gives access to the container (stop/start, exec, logs).
	Container *tcpostgres.PostgresContainer
}

// DSN returns a postgres:// URL for the superuser and database (sslmode=disable).
func (s *PostgresServer) DSN() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.User, s.Password),
		Host:     net.JoinHostPort(s.Host, s.Port),
		Path:     "/" + s.Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

var tcOnce sync.Once

// configureTestcontainers sets, unless the user already chose, the environment
// that testcontainers-go reads once, at its first call:
//   - TESTCONTAINERS_RYUK_DISABLED=true: the reaper image cannot be pulled here;
//     each test removes its containers itself (testcontainers.CleanupContainer).
//   - TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 when the Docker engine runs in this
//     network namespace (a docker0 interface is here) although /.dockerenv
//     exists, as on these build machines: testcontainers would otherwise take
//     /.dockerenv to mean "inside a container" and dial the default gateway.
func configureTestcontainers() {
	tcOnce.Do(func() {
		if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
			_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		if _, set := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE"); !set && localDockerBridge() {
			_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		}
	})
}

func localDockerBridge() bool {
	if _, err := os.Stat("/.dockerenv"); err != nil {
		return false // testcontainers then uses localhost anyway
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return false
	}
	_, err := net.InterfaceByName("docker0")
	return err == nil
}

// RequireDocker stops the test through Require unless a Docker engine answers.
// Tests that use testcontainers-go directly call it (or RequireImage) first:
// it also configures testcontainers for these machines (no Ryuk, see above).
func RequireDocker(t testing.TB) {
	t.Helper()
	configureTestcontainers()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		defer cli.Close()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		Require(t, "a running Docker engine ("+err.Error()+")", "start dockerd")
	}
}

// RequireImage is RequireDocker plus a check that the image ref is present
// locally. Test images are built, never pulled: see HintImages.
func RequireImage(t testing.TB, ref string) {
	t.Helper()
	RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("testenv: docker client: %v", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		Require(t, "Docker image "+ref, HintImages)
	}
}

// Postgres starts PostgresImage with testcontainers-go and waits until a
// `SELECT 1` over TCP succeeds. It returns the connection details of a fresh
// superuser with a random password.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	RequireImage(t, PostgresImage)
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		t.Fatalf("testenv: random password: %v", err)
	}
	s := &PostgresServer{User: "labsbx", Password: hex.EncodeToString(pw), Database: "labsbx"}
	dsn := func(host string, port nat.Port) string {
		c := *s
		c.Host, c.Port = host, port.Port()
		return c.DSN()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := tcpostgres.Run(ctx, PostgresImage,
		tcpostgres.WithUsername(s.User),
		tcpostgres.WithPassword(s.Password),
		tcpostgres.WithDatabase(s.Database),
		testcontainers.WithLogger(tclog.TestLogger(t)), // container lifecycle lines go to t.Log
		testcontainers.WithWaitStrategy(
			wait.ForSQL("5432/tcp", "pgx", dsn).
				WithStartupTimeout(2*time.Minute).
				WithPollInterval(200*time.Millisecond),
		),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("testenv: start postgres: %v", err)
	}
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatalf("testenv: postgres host: %v", err)
	}
	port, err := c.MappedPort(ctx, "5432/tcp")
	if err != nil {
		t.Fatalf("testenv: postgres port: %v", err)
	}
	if host == "" {
		t.Fatal("testenv: postgres host is empty")
	}
	s.Host, s.Port, s.Container = host, port.Port(), c
	t.Logf("testenv: postgres (%s) at %s:%s ready in %s", PostgresImage, host, s.Port, time.Since(start).Round(time.Millisecond))
	return s
}
