package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arcodange/labsbx/sandbox"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// Recovered is what `labsbx drill recover` did for one fault.
type Recovered struct {
	Scenario string `json:"scenario"`
	Action   string `json:"action"`
}

// Recover undoes every fault that an interrupted drill left in the state.
func Recover(ctx context.Context, cfg *sandbox.Configuration, name string) ([]Recovered, error) {
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
	rt, err := conn.Docker(ctx)
	if err != nil {
		return nil, err
	}
	sec, err := st.PostgresSecrets()
	if err != nil {
		return nil, err
	}
	pgAdmin, err := conn.PostgresAdmin(sec)
	if err != nil {
		return nil, err
	}
	// An interrupted full restart can leave containers stopped, or still stopping when
	// this runs, and nothing can be opened until they run again: start what is stopped
	// until Vault answers.
	var out []Recovered
	var env *Env
	if st.Profile == config.ProfileFull {
		// The full profile's components are pods: an interrupted power cycle can leave
		// the k3d cluster's nodes stopped. Starting a running cluster starts nothing.
		power, err := clusterPower(cfg, st)
		if err != nil {
			return nil, err
		}
		if err := power.Start(ctx); err != nil {
			return nil, err
		}
	}
	err = poll(ctx, 2*time.Minute, func(ctx context.Context) error {
		if st.Profile != config.ProfileFull {
			did, err := startStopped(ctx, st, rt, pgAdmin, nil)
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
		s, ok := newScenario(f.Scenario)
		if !ok {
			return out, fmt.Errorf("the state records a fault of unknown scenario %q; run `labsbx down` and `labsbx up`", f.Scenario)
		}
		var msg string
		err := poll(ctx, 2*time.Minute, func(ctx context.Context) error {
			var err error
			msg, err = s.Undo(ctx, env)
			if err != nil && !sandbox.Unreachable(err) && !vault.IsSealedErr(err) {
				return permanent{err}
			}
			return err
		})
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
