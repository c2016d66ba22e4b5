//go:build !failpoint

// Package failpoint marks the points inside a step where a test kills labsbx, to prove
// that the next run converges from there. In a normal build Hit does nothing and
// compiles away; a binary built with -tags failpoint stops itself at the point named
// by LABSBX_FAILPOINT (see failpoint_on.go).
package failpoint

// Hit marks the point name.
func Hit(string) {}
