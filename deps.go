//go:build tools

// Package labsbx pins, through this file only, the libraries of the full profile that
// the code does not import yet: the k3d Go library and the Helm v3 SDK. The build tag
// keeps them out of every build; `go mod tidy` keeps them in go.mod.
package labsbx

import (
	_ "github.com/k3d-io/k3d/v5/pkg/client"
	_ "helm.sh/helm/v3/pkg/action"
)
