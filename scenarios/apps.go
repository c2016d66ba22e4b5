package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcodange/labsbx/sandbox/vso"
)

// AppSide is the app's view through VSO on the full profile (*vso.Observer). Env.Apps
// is nil on the vault profile, where the engine checks Vault's side only.
type AppSide interface {
	State(ctx context.Context, app string) (vso.AppState, error)
	Events(ctx context.Context, app string, since time.Time) ([]vso.Event, error)
}

var _ AppSide = (*vso.Observer)(nil)

// AppOutcome is what the apps must show once a scenario has recovered.
type AppOutcome int

const (
	// AppHealthy: VSO holds a lease, the Secret has credentials and the app is ready
	// (the credentials may be the same ones as before the fault).
	AppHealthy AppOutcome = iota
	// AppRotated: VSO had to take new credentials, wrote them, restarted the app, and
	// the app is ready on them.
	AppRotated
)

// AppExpecting is implemented by a scenario whose recovery must rotate the apps'
// credentials; any other scenario expects AppHealthy.
type AppExpecting interface{ AppOutcome() AppOutcome }

func outcomeOf(s Scenario) AppOutcome {
	if a, ok := s.(AppExpecting); ok {
		return a.AppOutcome()
	}
	return AppHealthy
}

// AppStates reads every app's side and requires each to be healthy: the steady state
// before a fault, on the full profile.
func (e *Env) AppStates(ctx context.Context) (map[string]vso.AppState, error) {
	out := map[string]vso.AppState{}
	var errs []error
	for _, app := range e.State.Spec.Apps {
		s, err := e.Apps.State(ctx, app)
		if err == nil {
			err = vso.Healthy(s)
		}
		errs = append(errs, err)
		out[app] = s
	}
	return out, errors.Join(errs...)
}

// appsRecovered checks every app against the outcome, from the states before the fault.
func (e *Env) appsRecovered(ctx context.Context, before map[string]vso.AppState, want AppOutcome) error {
	var errs []error
	for _, app := range e.State.Spec.Apps {
		now, err := e.Apps.State(ctx, app)
		if err == nil {
			if want == AppRotated {
				err = vso.Rotated(before[app], now)
			} else {
				err = vso.Healthy(now)
			}
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// markAppEvents turns what VSO reported on each app since the fault into milestones,
// the first of each reason per app ("webapp: VSO SecretSyncError"), so that the report
// shows when the app side broke and came back. A sync's reason is part of the name
// ("webapp: VSO SecretRotated (sync_reason=SecretLeaseRenewalError)"): for a revoked
// lease that rotation is the only trace VSO leaves.
//
// VSO's recorder merges identical Events into one whose count grows while its first
// time stays at the first occurrence ever, so an Event seen more than once is dated
// by its last sighting unless the whole series lies inside the drill; then it also
// gets a milestone at its last sighting ("… (last of 3)").
func (e *Env) markAppEvents(ctx context.Context, since time.Time) error {
	for _, app := range e.State.Spec.Apps {
		events, err := e.Apps.Events(ctx, app, since)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, ev := range events {
			if seen[ev.Reason] {
				continue
			}
			seen[ev.Reason] = true
			name := fmt.Sprintf("%s: VSO %s", app, ev.Reason)
			if r := ev.SyncReason(); r != "" {
				name += " (sync_reason=" + r + ")"
			}
			at := ev.FirstSince(since)
			if since.After(at) {
				at = since
			}
			e.MarkAt(name, at)
			if ev.Repeated() && ev.Time.After(at) {
				e.MarkAt(fmt.Sprintf("%s (last of %d)", name, ev.Count), ev.Time)
			}
		}
	}
	return nil
}
