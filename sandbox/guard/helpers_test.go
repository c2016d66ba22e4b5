package guard

import (
	"github.com/hashicorp/vault/api"
)

func initReq() api.InitRequest { return api.InitRequest{SecretShares: 1, SecretThreshold: 1} }
