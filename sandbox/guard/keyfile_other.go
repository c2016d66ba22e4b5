//go:build !unix

package guard

// oNoFollow is not available here; the re-check before each open and the
// regular-file check after it remain.
const oNoFollow = 0
