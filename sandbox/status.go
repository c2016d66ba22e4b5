package sandbox

import (
	"time"

	"github.com/arcodange/labsbx/sandbox/state"
)

// Status lists the sandboxes of the state root (`labsbx status`).
type Status struct {
	cfg *Configuration
}

// NewStatus prepares a status.
func NewStatus(cfg *Configuration) *Status { return &Status{cfg: cfg} }

// SandboxSummary is one sandbox of `labsbx status`.
type SandboxSummary struct {
	Name      string      `json:"name"`
	UUID      string      `json:"uuid"`
	Profile   string      `json:"profile"`
	Phase     state.Phase `json:"phase"`
	Apps      []string    `json:"apps"`
	VaultAddr string      `json:"vaultAddr,omitempty"`
	Context   string      `json:"kubeContext,omitempty"`
	Faults    int         `json:"pendingFaults"`
	CreatedAt time.Time   `json:"createdAt"`
	StateDir  string      `json:"stateDir"`
}

// StatusResult is every sandbox of the root, and the state dirs that could not be
// read.
type StatusResult struct {
	StateRoot string           `json:"stateRoot"`
	Sandboxes []SandboxSummary `json:"sandboxes"`
	Errors    []string         `json:"errors,omitempty"`
}

// Run lists the sandboxes.
func (s *Status) Run() (*StatusResult, error) {
	list, errs := s.cfg.Store.List()
	res := &StatusResult{StateRoot: s.cfg.Store.Root, Sandboxes: []SandboxSummary{}}
	for _, st := range list {
		row := SandboxSummary{Name: st.Name, UUID: st.UUID, Profile: st.Profile, Phase: st.Phase,
			Apps: st.Spec.Apps, Faults: len(st.Faults), CreatedAt: st.CreatedAt, StateDir: st.Dir()}
		if st.Vault != nil {
			row.VaultAddr = st.Vault.Addr
		}
		if st.Kube != nil {
			row.Context = st.Kube.Context
		}
		res.Sandboxes = append(res.Sandboxes, row)
	}
	for _, e := range errs {
		res.Errors = append(res.Errors, e.Error())
	}
	return res, nil
}
