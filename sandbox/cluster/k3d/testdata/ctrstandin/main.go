// Command ctrstandin stands in for a k3d node in TestIntegrationImportNodePlatform:
// run as "serve" it keeps the container up; run as ctr it records its arguments and
// the archive it reads from stdin, and fails the way ctr does on a multi-platform
// archive whose content is missing when /fail exists.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		return
	}
	if err := os.WriteFile("/tmp/ctr-args", []byte(strings.Join(os.Args[1:], "\n")), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f, err := os.Create("/tmp/ctr-stdin.tar")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := io.Copy(f, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := os.Stat("/fail"); err == nil {
		fmt.Fprintln(os.Stderr, "ctr: content digest sha256:9a8f4ffc528789f2802630c2590052623a6c915e046f619a1743e7a2aebcaa78: not found")
		os.Exit(1)
	}
	fmt.Println("unpacking (stand-in)...done")
}
