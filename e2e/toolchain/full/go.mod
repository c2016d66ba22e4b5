// Module full holds the Go programs of the full profile's test tier that labsbx itself
// does not contain: the node image's flannel CNI plugin and the private engine's runtime
// wrapper. It is separate from the root module so that their dependencies stay out of it.
module github.com/arcodange/labsbx/e2e/toolchain/full

go 1.26.4

require github.com/containernetworking/cni v1.3.0

require (
	github.com/vishvananda/netns v0.0.4 // indirect
	golang.org/x/sys v0.23.0 // indirect
)
