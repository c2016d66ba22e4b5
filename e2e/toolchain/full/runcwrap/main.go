// Command runcwrap is the default runtime of the test tier's private Docker engine. This
// machine runs everything without CAP_SYS_RESOURCE in its capability bounding set, so
// runc refuses any container that asks for it ("unable to apply caps"), and Docker asks
// for every capability for a privileged container, as k3d's nodes are. runcwrap edits
// the OCI spec that runc is about to apply, then runs runc with the same arguments:
//   - CAP_SYS_RESOURCE leaves every capability set;
//   - the nofile, nproc and memlock limits are clamped to this process's hard limits,
//     which only CAP_SYS_RESOURCE could raise;
//   - a negative oomScoreAdj becomes 0, for the same reason.
//
// It edits the bundle's config.json on create and run, and the --process file on exec.
// Everything else passes through unchanged.
package main

import (
	"fmt"
	"os"
	"syscall"
)

// runc is the runtime it wraps: Debian's.
const runc = "/usr/sbin/runc"

func main() {
	if err := edit(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: %v\n", err)
		os.Exit(1)
	}
	argv := append([]string{"runc"}, os.Args[1:]...)
	err := syscall.Exec(runc, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "runcwrap: exec %s: %v\n", runc, err)
	os.Exit(1)
}

// edit finds the spec file the runc command line applies and edits it in place.
func edit(args []string) error {
	cmd, opts := command(args)
	switch cmd {
	case "create", "run":
		bundle := flagValue(opts, "bundle", "b")
		if bundle == "" {
			bundle = "."
		}
		return editFile(bundle+"/config.json", false)
	case "exec":
		if p := flagValue(opts, "process", "p"); p != "" {
			return editFile(p, true)
		}
	}
	return nil
}

// globalValueFlags are runc's global options that take a value.
var globalValueFlags = map[string]bool{"root": true, "log": true, "log-format": true, "criu": true, "rootless": true}

// command splits a runc command line into its command and the command's arguments.
func command(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			name := trimDashes(a)
			if eq := indexByte(name, '='); eq < 0 && globalValueFlags[name] {
				i++ // its value
			}
			continue
		}
		return a, args[i+1:]
	}
	return "", nil
}

// flagValue is the value of --long or -short in opts ("--x v", "--x=v", "-x v").
func flagValue(opts []string, long, short string) string {
	for i, a := range opts {
		if a == "--" {
			return ""
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name := trimDashes(a)
		if eq := indexByte(name, '='); eq >= 0 {
			if name[:eq] == long || name[:eq] == short {
				return name[eq+1:]
			}
			continue
		}
		if (name == long || name == short) && i+1 < len(opts) {
			return opts[i+1]
		}
	}
	return ""
}

func trimDashes(s string) string {
	for len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return s
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
