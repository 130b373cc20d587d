// Command release makes the release's bootstrap image and pushes it: the bootstrap
// built for linux/amd64 and linux/arm64 into one OCI image index with the OCI
// annotations, each platform's SPDX SBOM attached as a referrer, and, with --key, cosign
// key-pair signatures of the index and of each SBOM manifest.
//
//	go run ./images/release --version v0.1.0 --revision $(git rev-parse HEAD) \
//	    --registry ghcr.io [--registry-ca ca.crt] [--key cosign.key] --out dist/
//
// It pushes <registry>/tracebloc/edge-bootstrap:<version> and prints the digests on
// stdout, one "kind [platform] digest" line each, and each platform's size. The key is a
// PEM ECDSA P-256 private key ("EC PRIVATE KEY" or "PRIVATE KEY"); its public half is
// written to <out>/cosign.pub, and
//
//	cosign verify --key dist/cosign.pub --insecure-ignore-tlog=true <registry>/tracebloc/edge-bootstrap@<index digest>
//
// checks the signature. SOURCE_DATE_EPOCH sets the creation time (else the epoch).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "images/release:", err)
		}
		os.Exit(1)
	}
}
