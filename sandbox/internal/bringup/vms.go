package bringup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arcodange/labsbx/sandbox/vm"
	"github.com/arcodange/labsbx/vmimages"
)

// MaxVMs bounds spec.vms.count and --vms.
const MaxVMs = 8

// VMReadyTimeout bounds one VM's boot to SSH-ready: about 7 s under TCG on an idle
// machine of this kind (19 s for three at once on 2 cores), several times that on a
// busy one.
const VMReadyTimeout = 10 * time.Minute

// VMSummary is one VM in `labsbx up`'s result.
type VMSummary struct {
	Name  string   `json:"name"`
	SSH   string   `json:"ssh"` // 127.0.0.1:<port>
	User  string   `json:"user"`
	Accel vm.Accel `json:"accel"`
	// ReadyMs is how long it took from QEMU's start to SSH-ready (0: it was running).
	ReadyMs int64 `json:"readyMs"`
}

// EnsureVMImage returns the cached image of recipe, building (Linux) or downloading
// (macOS) it first when it is missing.
func EnsureVMImage(ctx context.Context, cfg *Config, recipe string) (*vmimages.Result, error) {
	root, err := vmimages.CacheRoot(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	b := &vmimages.Builder{CacheRoot: root, Getenv: cfg.Getenv, Log: cfg.log()}
	return b.Ensure(ctx, recipe, false)
}

func vmImage(ctx context.Context, p *Context) error {
	res, err := EnsureVMImage(ctx, p.cfg, p.st.Spec.VMs.Image)
	if err != nil {
		return err
	}
	if res.Built {
		p.change(fmt.Sprintf("built VM image %s-%s (%s) in %s", res.Image.Recipe, res.Image.Hash, res.Image.Source, res.Duration.Round(time.Second)))
	}
	p.vmImg = res.Image
	return nil
}

// vms converges the VMs to spec.vms.count: extra ones are removed, missing ones are
// created on an overlay of the image, and every one that is not running is started
// (a running VM of ours is left alone; a dead one restarts on its own overlay). It
// then waits until all of them are SSH-ready.
func vms(ctx context.Context, p *Context) error {
	m := p.conn.VMs(p.cfg.log())
	want := p.st.Spec.VMs.Count
	for len(p.st.VMs) > want {
		last := p.st.VMs[len(p.st.VMs)-1]
		if err := m.Remove(ctx, &last); err != nil {
			return err
		}
		p.st.VMs = p.st.VMs[:len(p.st.VMs)-1]
		p.change("removed VM " + last.Name)
		if err := p.cfg.Store.Save(p.st, p.cfg.now()); err != nil {
			return err
		}
	}
	if want == 0 {
		_, err := m.WriteAccessFiles(nil)
		return err
	}
	accel, why, err := vm.HostAccel(p.cfg.Getenv)
	if err != nil {
		return err
	}
	p.cfg.progress().Infof("arm64 VMs run with %s acceleration (%s)", accel, why)
	for i := range want {
		name := vm.Name(i)
		if p.st.VM(name) != nil {
			continue
		}
		if p.vmImg == nil {
			return errors.New("no VM image")
		}
		v, err := m.Create(ctx, name, vm.Spec{CPUs: p.st.Spec.VMs.CPUs, MemoryMiB: p.st.Spec.VMs.MemoryMiB, Image: p.vmImg})
		if err != nil {
			return err
		}
		p.st.VMs = append(p.st.VMs, *v)
		p.change(fmt.Sprintf("created VM %s (%d CPUs, %d MiB, SSH on 127.0.0.1:%d)", name, v.CPUs, v.MemoryMiB, v.SSHPort))
		// Recorded before it starts, so that a resumed up reuses its port and overlay.
		if err := p.cfg.Store.Save(p.st, p.cfg.now()); err != nil {
			return err
		}
	}
	started := map[string]time.Time{}
	for i := range p.st.VMs {
		v := &p.st.VMs[i]
		t0 := time.Now()
		did, err := m.Start(ctx, v)
		if err != nil {
			return err
		}
		if did {
			started[v.Name] = t0
			p.change(fmt.Sprintf("started VM %s (%s)", v.Name, v.Accel))
		}
		if err := p.cfg.Store.Save(p.st, p.cfg.now()); err != nil {
			return err
		}
	}
	// Every VM, started now or by an earlier run, must answer before up says ready.
	wctx, cancel := context.WithTimeout(ctx, VMReadyTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(p.st.VMs))
	ready := make([]time.Time, len(p.st.VMs))
	for i := range p.st.VMs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.WaitReady(wctx, &p.st.VMs[i])
			ready[i] = time.Now()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := m.WriteAccessFiles(p.st.VMs); err != nil {
		return err
	}
	for i, v := range p.st.VMs {
		s := VMSummary{Name: v.Name, SSH: fmt.Sprintf("127.0.0.1:%d", v.SSHPort), User: v.User, Accel: v.Accel}
		if t0, ok := started[v.Name]; ok {
			s.ReadyMs = ready[i].Sub(t0).Milliseconds()
		}
		p.res.VMs = append(p.res.VMs, s)
	}
	return nil
}
