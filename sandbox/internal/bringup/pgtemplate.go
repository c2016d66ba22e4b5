package bringup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/docker"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/vmimages"
)

// Postgres's data template. Postgres's first start on an empty volume (initdb, a
// temporary server, a restart) is most of a vault-profile up. So the first up with a
// Postgres image has the image's own entrypoint initialise a data directory once, in a
// container of the sandbox's (its UUID label: a leftover is down's to remove), with a
// superuser password that nobody keeps, and labsbx keeps that directory in its cache as
// a tar named by the image ID. Every later new volume of that image is filled from the
// tar before Postgres first starts, which then starts as on any restart; its superuser
// is given the sandbox's password through the container's local socket (as a SCRAM
// verifier: the password itself is never sent) before anything can log in over TCP.
const (
	// pgTemplateComponent names the container that makes the template.
	pgTemplateComponent = "pgtemplate"
	// pgDataDir is where the sandbox's Postgres keeps its data (its volume).
	pgDataDir = "/var/lib/postgresql/data"
	// pgTemplateFormat is part of the template's key: a template made another way is
	// another file.
	pgTemplateFormat = "v1"
)

// pgTemplateFileFormat is the write guard's format of a template: written once under
// a name that is its key, then kept as it is.
var pgTemplateFileFormat = guard.Format{Name: "Postgres data template", KeepExisting: true}

// pgTemplatePath is where the template of the image with ID id is kept.
func pgTemplatePath(getenv func(string) string, id string) (string, error) {
	root, err := vmimages.CacheRoot(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "postgres-template", pgTemplateFormat+"-"+strings.TrimPrefix(id, "sha256:")+".tar"), nil
}

// pgTemplate finds or makes the data template of the sandbox's Postgres image, unless
// Postgres's volume exists already (a template only fills a new one). A template that
// cannot be made (an image without pg_isready, say) is no error: Postgres then
// initialises its volume itself, as it always could.
func pgTemplate(ctx context.Context, p *Context) error {
	p.pgTmpl = guard.FileApproval{}
	if exists, err := p.rt.VolumeExists(ctx, ComponentPostgres); err != nil || (exists && !p.st.Docker.PostgresFromTemplate) {
		return err
	}
	id, ok, err := p.rt.ImageID(ctx, p.st.Spec.Postgres.Image)
	if err != nil || !ok {
		return errors.Join(err, fmt.Errorf("image %s is missing", p.st.Spec.Postgres.Image))
	}
	path, err := pgTemplatePath(p.cfg.Getenv, id)
	if err != nil {
		p.cfg.progress().Infof("Postgres data template: none (%v); Postgres initialises its volume itself", err)
		return nil
	}
	file, err := guard.ApproveWrite(path, pgTemplateFileFormat, p.cfg.WriteScope)
	if err != nil {
		return err
	}
	if ok, err := file.Exists(); err != nil || ok {
		if ok {
			p.pgTmpl = file
		}
		return err
	}
	t0 := time.Now()
	err = makePgTemplate(ctx, p, file)
	// The container goes whatever happened; a leftover (a kill) is down's.
	if rerr := p.rt.RemoveComponent(context.WithoutCancel(ctx), pgTemplateComponent); err == nil {
		err = rerr
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		p.cfg.log().Info("postgres data template not made", "image", p.st.Spec.Postgres.Image, "err", err)
		p.cfg.progress().Infof("Postgres data template: not made (%v); Postgres initialises its volume itself", err)
		return nil
	}
	p.pgTmpl = file
	p.change("made the Postgres data template of " + p.st.Spec.Postgres.Image + " in labsbx's cache")
	p.cfg.log().Info("postgres data template made", "image", p.st.Spec.Postgres.Image, "path", path, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// makePgTemplate runs the image's entrypoint on an empty data directory, waits until
// its final server answers inside the container, stops it cleanly and keeps its data.
func makePgTemplate(ctx context.Context, p *Context, file guard.FileApproval) error {
	if err := p.rt.RemoveComponent(ctx, pgTemplateComponent); err != nil {
		return err
	}
	throwaway := make([]byte, 24)
	if _, err := rand.Read(throwaway); err != nil {
		return err
	}
	if _, _, err := p.rt.EnsureContainer(ctx, docker.ContainerSpec{
		Component: pgTemplateComponent,
		Image:     p.st.Spec.Postgres.Image,
		// The sandbox's Postgres environment, with a password that is forgotten here.
		Env: []string{"POSTGRES_USER=postgres", "POSTGRES_PASSWORD=" + hex.EncodeToString(throwaway), "POSTGRES_DB=postgres"},
	}); err != nil {
		return err
	}
	// The entrypoint's temporary server listens on the socket only; the final one on
	// TCP as well.
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err := wait.Poll(wctx, wait.Options{Interval: 50 * time.Millisecond}, func(ctx context.Context) error {
		if info, ok, err := p.rt.Inspect(ctx, pgTemplateComponent); err != nil || !ok || !info.Running {
			return wait.Permanent(errors.Join(err, fmt.Errorf("the container stopped while initialising (see `docker logs %s`)", p.rt.ObjectName(pgTemplateComponent))))
		}
		code, err := p.rt.Exec(ctx, pgTemplateComponent, []string{"pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"}, nil, docker.ExecIO{Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			return wait.Permanent(err)
		}
		if code != 0 {
			return fmt.Errorf("pg_isready: exit %d", code)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A clean stop: the data directory is checkpointed, as on any restart.
	if err := p.rt.Stop(ctx, pgTemplateComponent, 30*time.Second); err != nil {
		return err
	}
	tar, err := p.rt.Archive(ctx, pgTemplateComponent, pgDataDir)
	if err != nil {
		return err
	}
	defer tar.Close()
	return file.WriteFrom(0o600, func(w io.Writer) error {
		_, err := io.Copy(w, tar)
		return err
	})
}

// keyPostgres gives the superuser of a Postgres started from the template the
// sandbox's password, through the container's local socket (trusted there, as the
// image's entrypoint sets it up), once the server answers on it.
func keyPostgres(ctx context.Context, p *Context) error {
	verifier, err := postgres.SCRAMVerifier(p.pgSec.SuperuserPassword)
	if err != nil {
		return err
	}
	proof, err := p.conn.Receiver(ComponentPostgres)
	if err != nil {
		return err
	}
	if _, err := proof.Prove(ctx); err != nil {
		return err
	}
	script := `until pg_isready -q; do sleep 0.02; done; exec psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres`
	var out bytes.Buffer
	code, err := p.rt.Exec(ctx, ComponentPostgres, []string{"sh", "-c", script}, nil,
		docker.ExecIO{Stdin: strings.NewReader("ALTER ROLE postgres PASSWORD '" + verifier + "';\n"), Stdout: &out, Stderr: &out})
	if err != nil {
		return err
	}
	if code != 0 {
		msg := strings.TrimSpace(strings.ReplaceAll(out.String(), verifier, "[redacted]"))
		return fmt.Errorf("give Postgres's superuser the sandbox's password (psql in %s: exit %d): %s", p.rt.ObjectName(ComponentPostgres), code, msg)
	}
	p.st.Docker.PostgresFromTemplate = false
	return p.cfg.Store.Save(p.st, p.cfg.now())
}
