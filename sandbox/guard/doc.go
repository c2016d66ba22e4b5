// Package guard is the hard boundary between the sandbox and everything else.
//
// It is the single place that decides "is this ours?" for a kube context, a
// Vault address, a Docker engine and a key file. A target is ours only when it
// matches what the sandbox state recorded when labsbx created it: the context
// name k3d-labsbx-<name>, an API server on a loopback literal, the cluster CA
// fingerprint, the marker ConfigMap kube-system/labsbx-sandbox carrying the
// sandbox UUID, and for Vault the cluster_id it reported after init.
//
// Every decision is made offline first: a refused target is never dialled.
// Clients for sandbox work can only be built from the approval values this
// package returns (KubeApproval, VaultApproval, DockerApproval, KeyPath); their
// fields are unexported and their zero values refuse. The clients they build
// are pinned: they dial only the approved host:port, ignore proxies and the
// user's environment, and refuse every request but the identity probes until
// the online identity check (marker UUID or Vault cluster_id) has passed.
//
// The package never reads KUBECONFIG, VAULT_* or DOCKER_* from the process
// environment by itself; callers pass what they want judged. A refusal is a
// *Refusal whose Error() is "refused: <reason>" and which matches ErrRefused
// with errors.Is; main maps it to exit status 3.
//
// checks.go lists every check in the order it runs.
package guard
