// Command etcd is the upstream etcd server: it only calls etcdmain.Main, as the
// etcd repository's own main package does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
