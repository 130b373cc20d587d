// Command tracebloc-release makes the post-renderer's release files, offline, in one
// folder: the archives of every platform (package archives), the Helm 4 plugin package
// with every platform's binary (package helmplugin, through the real `helm plugin
// package`), SHA256SUMS over both, and SHA256SUMS.sig, the cosign blob signature of
// SHA256SUMS (package blobsig).
//
//	go run ./internal/release/cmd/tracebloc-release --version v0.4.0 [--out dist]
//	    [--helm helm] [--cosign-key cosign.pem] [--plugin-key NAME --plugin-keyring FILE
//	    [--plugin-passphrase-file FILE]] [--platforms linux/amd64,...] [--mtime UNIX]
//	    [--repo .] [--go go]
//
//	--version   the release (v0.4.0): stamped into the binaries as the Makefile does; the
//	            file names and the plugin carry it without the "v"
//	--helm      the Helm 4 CLI that packages the plugin
//	--cosign-key  ECDSA P-256 private key (PEM) that signs SHA256SUMS; without it there
//	            is no SHA256SUMS.sig. Verify with
//	            cosign verify-blob --key cosign.pub --signature SHA256SUMS.sig --insecure-ignore-tlog=true SHA256SUMS
//	--plugin-key, --plugin-keyring  the OpenPGP key `helm plugin package --sign` signs
//	            the plugin with (the .prov); without them the plugin is not signed
//	--mtime     the date of every archive entry, in Unix seconds; default
//	            $SOURCE_DATE_EPOCH, then the time of the repository's HEAD commit
//
// stdout lists the files written, one a line; progress goes to stderr.
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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracebloc-release:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
