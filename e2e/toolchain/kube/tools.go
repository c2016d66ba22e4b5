//go:build tools

// Package tools pins k8s.io/kubernetes in this module's go.mod so that
// `go build k8s.io/kubernetes/cmd/kube-apiserver` builds it at the required version.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
