package guard

import (
	"context"

	"github.com/hashicorp/vault/api"
)

func initReq() api.InitRequest { return api.InitRequest{SecretShares: 1, SecretThreshold: 1} }

// stillProof stands in for Docker at the receiver boundary in unit tests: the port is
// proven served, by a process that never restarts (or the proof fails with err).
type stillProof struct {
	port int
	err  error
}

func (p stillProof) Prove(context.Context) (string, error) { return "still", p.err }
func (p stillProof) HostPort() int                         { return p.port }

// proofFor is a stillProof for the port of a Vault address ("" or a bad one: port 0).
func proofFor(addr string) ReceiverProof {
	e, err := parseEndpoint(addr, "http", "https")
	if err != nil {
		return stillProof{}
	}
	return stillProof{port: e.port}
}
