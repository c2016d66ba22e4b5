package guard

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// contextPrefix is the only kube context prefix labsbx creates: k3d-labsbx-<name>.
const contextPrefix = "k3d-labsbx-"

// Record is what the sandbox state recorded when labsbx created the sandbox.
// The sandbox package builds it from its state file; the guard trusts nothing
// else.
type Record struct {
	Name     string `json:"name"`
	UUID     string `json:"uuid"`
	StateDir string `json:"stateDir"` // absolute path of this sandbox's state dir
	// EngineID is the identity of the Docker engine the sandbox was created on
	// (EngineIdentity; "" before).
	EngineID string       `json:"engineID,omitempty"`
	Kube     *KubeRecord  `json:"kube,omitempty"`
	Vault    *VaultRecord `json:"vault,omitempty"`
}

// KubeRecord identifies the sandbox cluster. nil means no cluster (vault profile).
type KubeRecord struct {
	Context       string `json:"context"`              // k3d-labsbx-<name>
	Cluster       string `json:"cluster"`              // the context's cluster entry name
	User          string `json:"user"`                 // the context's user entry name
	Server        string `json:"server"`               // as k3d wrote it, e.g. https://0.0.0.0:34567
	CAFingerprint string `json:"caFingerprint"`        // hex sha256 of the CA certificate DER
	AuthPlugin    string `json:"authPlugin,omitempty"` // exec command or auth-provider name; "" for none
	MarkerWritten bool   `json:"markerWritten"`        // false only during up, between cluster creation and the marker
}

// VaultRecord identifies the sandbox Vault. nil means not created yet.
type VaultRecord struct {
	Addr        string `json:"addr"`                  // http://127.0.0.1:<port>, recorded at creation
	ContainerID string `json:"containerID,omitempty"` // docker container that publishes it (vault profile)
	ClusterID   string `json:"clusterID,omitempty"`   // recorded after init; "" before
}

// ContextName is the kube context name a sandbox called name must have.
func ContextName(name string) string { return contextPrefix + name }

// ValidName is the one rule for a sandbox (or VM) name: a lower-case DNS label of 1 to
// 32 ASCII letters, digits and '-', starting and ending with a letter or digit. It
// becomes part of container, network and k3d cluster names ("labsbx-<name>"), and
// keeps look-alike characters out of every name the guard compares.
func ValidName(name string) error {
	if !validName(name) {
		return fmt.Errorf("invalid name %q: use 1-32 lower-case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

func validName(name string) bool {
	if name == "" || len(name) > 32 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// normFingerprint lowercases a hex sha256 and drops ':' separators. It returns
// "" when the result is not 64 hex digits.
func normFingerprint(fp string) string {
	fp = strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	if len(fp) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(fp); err != nil {
		return ""
	}
	return fp
}

// isASCIIPrintable reports whether s is made only of printable ASCII without
// spaces: the alphabet of every name, URL and label the guard approves.
func isASCIIPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
