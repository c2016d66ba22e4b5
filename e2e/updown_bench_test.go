package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/jackc/pgx/v5"

	"github.com/arcodange/labsbx/e2e/testenv"
)

// BenchmarkUpDownVersusHand compares `labsbx up` + `labsbx down` of the embedded
// default (vault profile, through the binary) with what a user would do instead by
// hand: Postgres and a dev-mode Vault as two containers of the same images, started
// at once, polled every 20 ms until both answer (a query, sys/health 200), then removed
// with their volumes. Pairs are interleaved (labsbx first, then the hand run first) so
// that a busy moment of the machine falls on both sides; the figures are the medians
// of each side and their ratio. LABSBX_BENCH_PAIRS sets the number of pairs (7).
func BenchmarkUpDownVersusHand(b *testing.B) {
	testenv.RequireImage(b, testenv.VaultImage)
	testenv.RequireImage(b, testenv.PostgresImage)
	pairs := 7
	if v, err := strconv.Atoi(os.Getenv("LABSBX_BENCH_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	eng, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	c := newLocalImagesCLI(b)
	name := sandboxName("bench")
	b.Cleanup(func() { c.run("down", "--name", name) })
	labsbxRun := func() time.Duration {
		t0 := time.Now()
		c.ok("up", "--name", name)
		c.ok("down", "--name", name)
		return time.Since(t0)
	}
	handRun := func() time.Duration {
		t0 := time.Now()
		if err := byHand(context.Background(), eng); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	// One of each first, unmeasured: page cache, the binary, the images' layers.
	labsbxRun()
	handRun()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ours, hand []time.Duration
		for p := 0; p < pairs; p++ {
			if p%2 == 0 {
				ours = append(ours, labsbxRun())
				hand = append(hand, handRun())
			} else {
				hand = append(hand, handRun())
				ours = append(ours, labsbxRun())
			}
		}
		mo, mh := testenv.Median(ours), testenv.Median(hand)
		b.ReportMetric(mo.Seconds(), "s/labsbx-up+down")
		b.ReportMetric(mh.Seconds(), "s/by-hand")
		b.ReportMetric(mo.Seconds()/mh.Seconds(), "ratio")
		fmt.Fprintf(os.Stderr, "up+down versus by hand, %d interleaved pairs: labsbx median %s, by hand median %s, ratio %.2f\n  labsbx:  %v\n  by hand: %v\n",
			pairs, mo.Round(time.Millisecond), mh.Round(time.Millisecond), mo.Seconds()/mh.Seconds(), round(ours), round(hand))
	}
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// byHand starts Postgres and `vault server -dev` as two containers, waits until both
// answer, and removes them.
func byHand(ctx context.Context, eng *client.Client) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	password, suffix := hex.EncodeToString(buf), hex.EncodeToString(buf[:4])
	ports, err := freeLocalPorts(2)
	if err != nil {
		return err
	}
	pgPort, vaultPort := ports[0], ports[1]
	publish := func(cport string, hport int) (nat.PortSet, nat.PortMap) {
		p := nat.Port(cport + "/tcp")
		return nat.PortSet{p: {}}, nat.PortMap{p: {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hport)}}}
	}
	var ids []string
	defer func() {
		for _, id := range ids {
			if rerr := eng.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil && err == nil {
				err = rerr
			}
		}
	}()
	exp, binds := publish("5432", pgPort)
	pg, err := eng.ContainerCreate(ctx, &container.Config{
		Image: testenv.PostgresImage, Env: []string{"POSTGRES_PASSWORD=" + password}, ExposedPorts: exp,
	}, &container.HostConfig{PortBindings: binds}, nil, nil, "bench-hand-postgres-"+suffix)
	if err != nil {
		return err
	}
	ids = append(ids, pg.ID)
	exp, binds = publish("8200", vaultPort)
	v, err := eng.ContainerCreate(ctx, &container.Config{
		Image: testenv.VaultImage, Entrypoint: []string{"/bin/vault"},
		Cmd:          []string{"server", "-dev", "-dev-listen-address=0.0.0.0:8200", "-dev-root-token-id=" + password},
		Env:          []string{"SKIP_SETCAP=true"},
		ExposedPorts: exp,
	}, &container.HostConfig{PortBindings: binds}, nil, nil, "bench-hand-vault-"+suffix)
	if err != nil {
		return err
	}
	ids = append(ids, v.ID)
	for _, id := range ids {
		if err := eng.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return err
		}
	}
	dsn := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", password, pgPort)
	pgReady := func() bool {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return false
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "SELECT 1")
		return err == nil
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	vaultReady := func() bool {
		resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/sys/health", vaultPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for pgOK, vaultOK := false, false; !pgOK || !vaultOK; {
		pgOK = pgOK || pgReady()
		vaultOK = vaultOK || vaultReady()
		if pgOK && vaultOK {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("by hand: postgres ready %v, vault ready %v: %w", pgOK, vaultOK, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func freeLocalPorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
