// Command etcd is the etcd server (go.etcd.io/etcd/server/v3/etcdmain) for the local test
// cluster, built by scripts/build-tools.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
