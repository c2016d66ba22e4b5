package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// Recovered is what `labsbx drill recover` did for one fault.
type Recovered struct {
	Scenario string `json:"scenario"`
	Action   string `json:"action"`
}

// Reviver is implemented by a scenario whose fault stops the sandbox's components, so
// that nothing can be opened until they run again. Before `drill recover` opens the
// sandbox it asks every reviver of the catalogue, whichever faults the state records:
// whatever stopped the components, no fault can be undone until they run.
type Reviver interface {
	// Revive starts at once what it can, and returns what Recover repeats before each
	// try to open the sandbox, until one succeeds (nil: nothing to repeat). The
	// repeated step says what it did.
	Revive(ctx context.Context, cfg *sandbox.Configuration, conn *connect.Conn) (again func(context.Context) ([]string, error), err error)
}

// Recover undoes every fault that an interrupted drill left in the state.
// It makes each fault's scenario from cat. A refusal says what is safe to do next:
// the faults it has not undone stay recorded.
func Recover(ctx context.Context, cfg *sandbox.Configuration, cat *Catalogue, name string) ([]Recovered, error) {
	out, err := recoverFaults(ctx, cfg, cat, name)
	return out, guard.WithHint(err, recoverHint(name))
}

// recoverHint follows a refusal of drill recover: commands that change nothing, or
// that change only what the guard approves.
func recoverHint(name string) string {
	return fmt.Sprintf("the faults not undone stay recorded, and nothing was sent to the refused target. `labsbx status --name %s` shows the sandbox and changes nothing; once the cause above is gone, run `labsbx drill recover --name %s` again", name, name)
}

func recoverFaults(ctx context.Context, cfg *sandbox.Configuration, cat *Catalogue, name string) ([]Recovered, error) {
	lock, err := cfg.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, err := cfg.Store.Load(name)
	if err != nil {
		return nil, err
	}
	if len(st.Faults) == 0 {
		return nil, nil
	}
	if err := st.Preflight(ctx); err != nil {
		return nil, err
	}
	conn := connect.New(st, cfg.Getenv)
	defer conn.Close()
	var again []func(context.Context) ([]string, error)
	for _, s := range cat.All() {
		r, ok := s.(Reviver)
		if !ok {
			continue
		}
		fn, err := r.Revive(ctx, cfg, conn)
		if err != nil {
			return nil, err
		}
		if fn != nil {
			again = append(again, fn)
		}
	}
	// Start what is stopped until Vault answers.
	var out []Recovered
	var env *Env
	err = poll(ctx, 2*time.Minute, func(ctx context.Context) error {
		for _, fn := range again {
			did, err := fn(ctx)
			if len(did) > 0 {
				out = append(out, Recovered{Scenario: "(components)", Action: strings.Join(did, "; ")})
			}
			if err != nil {
				return err
			}
		}
		var err error
		env, err = newEnv(ctx, cfg, conn)
		if errors.Is(err, guard.ErrRefused) {
			return permanent{err}
		}
		return err
	})
	if err != nil {
		return out, err
	}
	for len(st.Faults) > 0 {
		f := st.Faults[0]
		s, ok := cat.New(f.Scenario)
		if restore, recorded := cat.restore[f.Kind]; recorded {
			if s, err = restore(f); err != nil {
				return out, err
			}
			ok = true
		}
		if !ok {
			return out, fmt.Errorf("the state records a fault of unknown scenario %q; run `labsbx down` and `labsbx up`", f.Scenario)
		}
		var msg string
		err := pollTries(ctx, 5*time.Minute, undoTryTimeout, func(ctx context.Context) error {
			var err error
			msg, err = s.Undo(ctx, env)
			if err != nil && !wait.NotAnsweringYet(err) && !vault.IsSealedErr(err) {
				return permanent{err}
			}
			if err != nil {
				cfg.Logger().Debug("undo not done yet; trying again", "scenario", f.Scenario, "err", err)
			}
			return err
		})
		if c, ok := s.(Cleaner); ok {
			c.Cleanup()
		}
		if err != nil {
			return out, fmt.Errorf("undo %s: %w", f.Scenario, err)
		}
		out = append(out, Recovered{Scenario: f.Scenario, Action: msg})
		st.Faults = st.Faults[1:]
		if err := cfg.Store.Save(st, cfg.Clock()); err != nil {
			return out, err
		}
	}
	return out, nil
}
