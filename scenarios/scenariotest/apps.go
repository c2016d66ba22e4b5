// Package scenariotest holds fakes for the unit tests of the drill engine and its
// scenarios.
package scenariotest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/arcodange/labsbx/sandbox/vso"
)

// Apps is VSO and the apps at the engine's AppSide boundary: a state per app that a test
// moves along, and the Events VSO would have recorded.
type Apps struct {
	mu     sync.Mutex
	states map[string]vso.AppState
	events map[string][]vso.Event
}

// HealthyApp is an app whose lease, Secret and pods are all in order.
func HealthyApp(app, lease string) vso.AppState {
	return vso.AppState{App: app, LeaseID: lease, SecretUser: "v-" + lease, SecretVersion: lease, Ready: true, RestartedAt: lease}
}

func (f *Apps) State(_ context.Context, app string) (vso.AppState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.states[app]
	if !ok {
		return s, fmt.Errorf("app %s: VaultDynamicSecret %s-db not found", app, app)
	}
	return s, nil
}

func (f *Apps) Events(_ context.Context, app string, since time.Time) ([]vso.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vso.Event
	for _, e := range f.events[app] {
		if !e.Time.Before(since.Truncate(time.Second)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Set moves the app to state s, with the Events VSO recorded meanwhile. Like VSO's
// recorder, an Event identical to an earlier one (type, reason, message) is merged into
// it: its count grows and its last time moves, its first time stays.
func (f *Apps) Set(app string, s vso.AppState, evs ...vso.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[app] = s
	for _, ev := range evs {
		merged := false
		for i, old := range f.events[app] {
			if old.Type == ev.Type && old.Reason == ev.Reason && old.Message == ev.Message {
				f.events[app][i].Count++
				f.events[app][i].Time = ev.Time
				merged = true
				break
			}
		}
		if !merged {
			ev.First, ev.Count = ev.Time, 1
			f.events[app] = append(f.events[app], ev)
		}
	}
}

// NewApps is VSO with no app yet.
func NewApps() *Apps {
	return &Apps{states: map[string]vso.AppState{}, events: map[string][]vso.Event{}}
}
