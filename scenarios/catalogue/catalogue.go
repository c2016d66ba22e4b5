// Package catalogue is labsbx's catalogue of drills: every built-in drill
// (scenarios/builtin), in the order a person meets them, with its group and where
// `drill run --all` runs it, and how a drill file's recorded fault is made again
// (scenarios/filedrill). A new drill is one file in scenarios/builtin and one line here.
package catalogue

import (
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/scenarios"
	"github.com/arcodange/labsbx/scenarios/builtin"
	"github.com/arcodange/labsbx/scenarios/filedrill"
)

// Drills is the catalogue: `drill list`, `drill run` (its names, groups and --all)
// and `drill recover` all read it.
func Drills() *scenarios.Catalogue { return drills }

var drills = scenarios.NewCatalogue([]scenarios.Entry{
	{New: builtin.NewSeal},
	{New: builtin.NewLostLease},
	{New: builtin.NewBrokenRotation("grant"), Group: "broken-rotation"},
	{New: builtin.NewBrokenRotation("role"), Group: "broken-rotation"},
	{New: builtin.NewFullRestart},
	{New: builtin.NewWrongKey},
	{New: builtin.NewBackupRestore, Only: vaultProfile},
	{New: builtin.NewPolicyIsolation},
	{New: builtin.NewVMNodeLoss, Only: withVMs},
	{New: builtin.NewVaultUpgrade, Only: namedOnly},
}, map[string]scenarios.Restore{filedrill.FaultKind: filedrill.Restore})

// vaultProfile: the sandbox has the vault profile (its Vault's storage is a volume
// labsbx owns).
func vaultProfile(st *state.State) bool { return st.Profile == config.ProfileVault }

// withVMs: the sandbox has arm64 VMs (`labsbx up --vms N`).
func withVMs(st *state.State) bool { return len(st.VMs) > 0 }

// namedOnly: `drill run --all` never runs the drill; it runs when named. A change
// (vault-upgrade) is not a failure drill: it leaves the sandbox changed, and takes
// its target (--to).
func namedOnly(*state.State) bool { return false }
