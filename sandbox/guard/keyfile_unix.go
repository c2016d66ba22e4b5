//go:build unix

package guard

import "syscall"

// oNoFollow makes opening a key file fail if it is a symlink.
const oNoFollow = syscall.O_NOFOLLOW
