// Command registry is the CNCF distribution registry (github.com/distribution/distribution/v3)
// for the local test cluster, built by scripts/build-tools, with the filesystem storage
// driver only: the cloud drivers of its cmd/registry would add the AWS, Azure and Google
// SDKs to every cold build for nothing the harness uses.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
