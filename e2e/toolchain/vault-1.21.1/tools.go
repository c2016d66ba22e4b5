//go:build tools

// Package tools pins github.com/hashicorp/vault in this module's go.mod so that
// `go build github.com/hashicorp/vault` builds the server at the required version.
package tools

import _ "github.com/hashicorp/vault"
