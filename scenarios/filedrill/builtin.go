package filedrill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/builtin"
	"github.com/arcodange/labsbx/scenarios/drillfile"
)

// The built-in faults a drill file names, each with labsbx's recovery (what a
// runbook would do) and undo (what puts the sandbox back after an interrupted drill).

// consumer is the drill's view of one app: the credentials it holds across phases.
func (f *fileDrill) consumer(e *scenarios.Env, app string) *scenarios.Consumer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.consumers == nil {
		f.consumers = map[string]*scenarios.Consumer{}
	}
	c, ok := f.consumers[app]
	if !ok {
		c = e.NewConsumer(app)
		f.consumers[app] = c
	}
	return c
}

// builtinScenario is the built-in drill whose runbook step a built-in fault shares.
func (f *fileDrill) builtinScenario() scenarios.Scenario {
	if f.change != nil {
		return f.change
	}
	switch f.d.Spec.Fault.Builtin {
	case drillfile.FaultSeal, drillfile.FaultRestart, drillfile.FaultStop:
		return builtin.NewSeal()
	case drillfile.FaultDropGrant:
		return builtin.NewBrokenRotation("grant")()
	}
	return nil
}

func (f *fileDrill) injectBuiltin(ctx context.Context, e *scenarios.Env) error {
	fl := f.d.Spec.Fault
	switch fl.Builtin {
	case drillfile.FaultSeal:
		return e.Vault.Seal(ctx)
	case drillfile.FaultRevokeLease:
		c := f.consumer(e, fl.App)
		if c.Lease == "" {
			if err := c.Works(ctx); err != nil {
				return fmt.Errorf("the app needs a lease before it can lose it: %w", err)
			}
		}
		return e.Vault.Root().Sys().RevokeWithContext(ctx, c.Lease)
	case drillfile.FaultDropGrant:
		return e.Admin(ctx, func(c *pgx.Conn) error {
			_, err := c.Exec(ctx, `ALTER ROLE `+postgres.Ident(postgres.VaultAdmin)+` NOCREATEROLE`)
			return err
		})
	case drillfile.FaultDropRole:
		return e.Admin(ctx, func(c *pgx.Conn) error { return postgres.DropAppRole(ctx, c, fl.App) })
	case drillfile.FaultRestart, drillfile.FaultStop:
		if e.Cluster != nil {
			return scenarios.Permanent(fmt.Errorf("fault %s runs on the vault profile; on the full profile give the fault as a command (kubectl delete pod …)", fl.Builtin))
		}
		if err := e.Docker.Stop(ctx, fl.Component, 10*time.Second); err != nil {
			return err
		}
		if fl.Builtin == drillfile.FaultRestart {
			_, err := builtin.StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil)
			return err
		}
		return nil
	case drillfile.FaultVMPowerCut:
		v := e.State.VM(fl.VM)
		if v == nil || e.VMs == nil {
			return scenarios.Permanent(fmt.Errorf("sandbox %q has no VM %q", e.State.Name, fl.VM))
		}
		return e.VMs.PowerCut(ctx, v)
	}
	return scenarios.Permanent(fmt.Errorf("unknown fault %q", fl.Builtin))
}

// recoverBuiltin is labsbx's recovery of a built-in fault: for a lost lease the app
// reads new credentials, as VSO does; otherwise the undo.
func (f *fileDrill) recoverBuiltin(ctx context.Context, e *scenarios.Env) error {
	if fl := f.d.Spec.Fault; fl.Builtin == drillfile.FaultRevokeLease {
		return f.consumer(e, fl.App).Fetch(ctx)
	}
	_, err := f.undoBuiltin(ctx, e)
	return err
}

func (f *fileDrill) undoBuiltin(ctx context.Context, e *scenarios.Env) (string, error) {
	fl := f.d.Spec.Fault
	switch fl.Builtin {
	case drillfile.FaultSeal:
		return builtin.NewSeal().Undo(ctx, e)
	case drillfile.FaultRevokeLease:
		return "nothing to restore: a revoked lease stays revoked, and the app reads new credentials", nil
	case drillfile.FaultDropGrant, drillfile.FaultDropRole:
		sec, err := e.State.PostgresSecrets()
		if err != nil {
			return "", err
		}
		var changed bool
		err = e.Admin(ctx, func(c *pgx.Conn) error {
			var err error
			if fl.Builtin == drillfile.FaultDropGrant {
				changed, err = postgres.EnsureVaultAdmin(ctx, c, sec.VaultAdminPassword)
			} else {
				changed, err = postgres.EnsureApp(ctx, c, fl.App)
			}
			return err
		})
		if err != nil {
			return "", err
		}
		if !changed {
			return "the database grants and roles were already in place", nil
		}
		if fl.Builtin == drillfile.FaultDropGrant {
			return fmt.Sprintf("restored %s's CREATEROLE", postgres.VaultAdmin), nil
		}
		return fmt.Sprintf("recreated %s with its schema", postgres.AppRole(fl.App)), nil
	case drillfile.FaultRestart, drillfile.FaultStop:
		did, err := builtin.StartStopped(ctx, e.State, e.Docker, e.PGAdmin, nil)
		if err != nil {
			return strings.Join(did, "; "), err
		}
		msg, err := builtin.NewSeal().Undo(ctx, e)
		return strings.Join(append(did, msg), "; "), err
	case drillfile.FaultVMPowerCut:
		v := e.State.VM(fl.VM)
		if v == nil || e.VMs == nil {
			return "", fmt.Errorf("sandbox %q has no VM %q", e.State.Name, fl.VM)
		}
		running, err := e.VMs.Running(v)
		if err != nil {
			return "", err
		}
		if !running {
			if err := builtin.StartVM(ctx, e, v); err != nil {
				return "", err
			}
			return fmt.Sprintf("started VM %s again on its disk", v.Name), nil
		}
		if _, err := e.VMs.WaitReady(ctx, v); err != nil {
			return "", err
		}
		return fmt.Sprintf("VM %s is running", v.Name), nil
	}
	return "", fmt.Errorf("unknown fault %q", fl.Builtin)
}

// probe runs one probe once; nil means it holds.
func (f *fileDrill) probe(ctx context.Context, e *scenarios.Env, p drillfile.Probe) error {
	switch p.Kind() {
	case "vault":
		return probeVault(ctx, e, p.Vault)
	case "creds":
		// A fresh credential issues; what the app holds stays as it is.
		c := e.NewConsumer(p.Creds)
		return c.Fetch(ctx)
	case "connects":
		// The app connects with what it holds (reading credentials first if it holds
		// none): after a lost lease it does not, until it reads new ones.
		c := f.consumer(e, p.Connects)
		if c.User == "" {
			if err := c.Fetch(ctx); err != nil {
				return err
			}
		}
		return c.Connect(ctx)
	case "kv":
		return probeKV(ctx, e, p.KV)
	case "http":
		return probeHTTP(ctx, e, p.HTTP)
	case "sql":
		return f.probeSQL(ctx, e, p.SQL)
	case "apps":
		if e.Apps == nil {
			return scenarios.Permanent(errors.New("the apps' side is checked on the full profile; this sandbox has the vault profile"))
		}
		_, err := e.AppStates(ctx)
		return err
	case "command":
		exit := 0
		if p.Command.Exit != nil {
			exit = *p.Command.Exit
		}
		// Within the drill's timeout, in every phase: the steady state's single try
		// included.
		code, out, err := f.exec(ctx, e, p.Command.Run, commandTimeout(e))
		if err != nil {
			return err
		}
		if code != exit {
			return fmt.Errorf("exited with status %d, want %d%s", code, exit, lastLine(out))
		}
		if !compile(p.Command.Output).MatchString(out) {
			return fmt.Errorf("output does not match %q%s", p.Command.Output, lastLine(out))
		}
		return nil
	}
	return scenarios.Permanent(fmt.Errorf("unknown probe %q", p.Kind()))
}

func probeVault(ctx context.Context, e *scenarios.Env, want string) error {
	st, err := e.Vault.Status(ctx)
	if err != nil {
		return fmt.Errorf("Vault does not answer: %w", err)
	}
	switch want {
	case drillfile.VaultSealed:
		if !st.Sealed {
			return errors.New("Vault is unsealed")
		}
	case drillfile.VaultUnsealed:
		if st.Sealed {
			return errors.New("Vault is sealed")
		}
	case drillfile.VaultSameClusterID:
		if st.Sealed {
			return errors.New("Vault is sealed: it reports no cluster_id")
		}
		return e.Vault.Approval.VerifyClusterID(ctx)
	}
	return nil
}

// probeKV reads a secret with the root token: a KV v2 path is read at its data/
// endpoint, as the Vault CLI's kv get does.
func probeKV(ctx context.Context, e *scenarios.Env, kv *drillfile.KV) error {
	root := e.Vault.Root()
	mount, rest, _ := strings.Cut(kv.Path, "/")
	mounts, err := root.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return err
	}
	m, ok := mounts[mount+"/"]
	if !ok {
		return scenarios.Permanent(fmt.Errorf("no secrets engine is mounted at %s/", mount))
	}
	var data map[string]any
	if m.Options["version"] == "2" {
		s, err := root.KVv2(mount).Get(ctx, rest)
		if err != nil {
			return err
		}
		data = s.Data
	} else {
		s, err := root.KVv1(mount).Get(ctx, rest)
		if err != nil {
			return err
		}
		data = s.Data
	}
	if kv.Key == "" {
		return nil
	}
	v, ok := data[kv.Key]
	if !ok {
		return fmt.Errorf("%s has no key %q", kv.Path, kv.Key)
	}
	if kv.Equals != "" && fmt.Sprint(v) != kv.Equals {
		return fmt.Errorf("%s: %s is not %q", kv.Path, kv.Key, kv.Equals)
	}
	return nil
}

// probeHTTP is a GET of the sandbox's Vault, on the guard's pinned client (the URL
// was approved as the sandbox's endpoint before the drill began).
func probeHTTP(ctx context.Context, e *scenarios.Env, h *drillfile.HTTP) error {
	c, err := e.Vault.NewClient("")
	if err != nil {
		return err
	}
	path := h.URL
	if rest, ok := strings.CutPrefix(path, "$VAULT_ADDR"); ok {
		path = rest
	} else if i := strings.Index(path, "://"); i >= 0 {
		if j := strings.IndexByte(path[i+3:], '/'); j >= 0 {
			path = path[i+3+j:]
		} else {
			path = "/"
		}
	}
	p, query, _ := strings.Cut(path, "?")
	req := c.NewRequest(http.MethodGet, p)
	if query != "" {
		if req.Params, err = url.ParseQuery(query); err != nil {
			return scenarios.Permanent(fmt.Errorf("query of %s: %w", h.URL, err))
		}
	}
	//nolint:staticcheck // RawRequest is the API client's only way to see any status.
	resp, err := c.RawRequestWithContext(ctx, req)
	if resp == nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != h.Status {
		return fmt.Errorf("GET %s answered %d, want %d", path, resp.StatusCode, h.Status)
	}
	return nil
}

func (f *fileDrill) probeSQL(ctx context.Context, e *scenarios.Env, q *drillfile.SQL) error {
	var got string
	scan := func(c *pgx.Conn) error {
		var v any
		err := c.QueryRow(ctx, q.Query).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		got = fmt.Sprint(v)
		return nil
	}
	var err error
	if q.As == "" || q.As == drillfile.AsSuperuser {
		err = e.Admin(ctx, scan)
	} else {
		c := e.NewConsumer(q.As)
		if err = c.Fetch(ctx); err == nil {
			var conn *pgx.Conn
			if conn, err = postgres.Connect(ctx, c.Endpoint()); err == nil {
				err = scan(conn)
				_ = conn.Close(context.Background())
			}
		}
	}
	if err != nil {
		return err
	}
	if !compile(q.Output).MatchString(got) {
		return fmt.Errorf("the query returned %q, which does not match %q", got, q.Output)
	}
	return nil
}
