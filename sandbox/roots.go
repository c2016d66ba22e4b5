package sandbox

import (
	"encoding/json"
	"errors"
	"path/filepath"

	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/state"
)

// rootsFormat is the registry of state roots (state.RootsFile), for the write guard:
// an existing file is replaced only when it is one.
var rootsFormat = guard.Format{Name: "registry of labsbx state roots", MaxSize: 1 << 20, Recognise: func(b []byte) error {
	var doc struct {
		APIVersion string   `json:"apiVersion"`
		Roots      []string `json:"roots"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Roots == nil {
		return errors.New("not a registry of labsbx state roots")
	}
	return nil
}}

// registerRoot records this state root in the user's registry, so that a down run
// from another root can name it. The write is the guard's to approve; a registry that
// cannot be written is a warning, not a failed up.
func (c *Configuration) registerRoot() {
	file, err := state.RootsFile(c.getenv())
	if err == nil {
		_, err = guard.ApproveWrite(filepath.Clean(file), rootsFormat, c.WriteScope())
	}
	if err == nil {
		err = state.RegisterRoot(c.getenv(), c.Store.Root)
	}
	if err != nil {
		c.progress().Infof("warning: this state root is not recorded, so a down from another LABSBX_HOME cannot point here: %v", err)
	}
}
