// Command tracebloc-release makes a release (scripts/release, `make release`): it stages
// the repository's HEAD (or, with --worktree, the work tree), builds the bootstrap image
// for linux/amd64 and linux/arm64 with an SPDX SBOM per platform, the post-renderer's
// archives for every platform, the Helm 4 plugin package and the edge chart with its
// tracebloc/client dependency and the image's digest pinned; with --registry it pushes
// the image (SBOMs as referrers), the chart and the plugin under <registry>/tracebloc/...
// and signs and attests them with --cosign-key; it writes SHA256SUMS, its signature and
// artifacts.txt (kind, reference, digest of everything pushed) into --out.
//
//	go run ./internal/release/cmd/tracebloc-release --version v0.4.0 [--out dist]
//	    [--registry HOST[:PORT] [--registry-ca ca.pem]] [--cosign-key cosign.pem]
//	    [--pgp-key NAME --pgp-keyring FILE [--pgp-passphrase-file FILE]] [--keys DIR]
//	    [--helm helm] [--helm4 helm4] [--client-chart client-1.9.62.tgz]
//	    [--platforms linux/amd64,...] [--mtime UNIX] [--repo .] [--worktree] [--go go]
//
//	--version     the release (v0.4.0): stamped into the binaries as the Makefile does;
//	              the files, the chart, the plugin and the image tag carry it without the "v"
//	--registry    where the image, the chart and the plugin go; empty: the files only
//	--cosign-key  ECDSA P-256 private key (PEM) that signs the image, the SBOMs, the chart,
//	              the plugin and SHA256SUMS. Verify SHA256SUMS with
//	              cosign verify-blob --key cosign.pub --signature SHA256SUMS.sig --insecure-ignore-tlog=true SHA256SUMS
//	--pgp-key, --pgp-keyring  the OpenPGP key the chart and the plugin package are signed
//	              with (their .prov, for helm --verify); without them there is no .prov
//	--keys        a folder of throwaway key pairs for what --cosign-key and --pgp-key do
//	              not sign: a release to a local registry
//	--helm        the Helm 3 CLI that packages and pushes the chart
//	--helm4       the Helm 4 CLI that packages the plugin
//	--mtime       the date of every archive entry and of the image, in Unix seconds;
//	              default $SOURCE_DATE_EPOCH, then the time of the repository's HEAD commit
//
// `--help` lists every flag. stdout lists the files written, one a line; progress goes to
// stderr.
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
