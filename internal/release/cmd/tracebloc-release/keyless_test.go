package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// TestSignKeyless: scripts/sign-keyless (the release workflow's keyless signing, which
// needs the internet) runs cosign once for each manifest of artifacts.txt, attests the
// SBOMs on the index and on each platform manifest, and signs SHA256SUMS. A stand-in cosign
// on PATH records the calls.
func TestSignKeyless(t *testing.T) {
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, dist := filepath.Join(dir, "bin"), filepath.Join(dir, "dist")
	for _, d := range []string{bin, dist} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	calls := filepath.Join(dir, "calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + calls + "\n"
	if err := os.WriteFile(filepath.Join(bin, "cosign"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	artifacts := `image ghcr.io/tracebloc/edge-bootstrap:0.4.0 sha256:1111
image-linux-amd64 ghcr.io/tracebloc/edge-bootstrap sha256:2222
sbom-linux-amd64 ghcr.io/tracebloc/edge-bootstrap sha256:3333
signature ghcr.io/tracebloc/edge-bootstrap sha256:4444
chart ghcr.io/tracebloc/charts/edge:0.4.0 sha256:5555
plugin ghcr.io/tracebloc/plugins/tracebloc:0.4.0 sha256:6666
attestation ghcr.io/tracebloc/edge-bootstrap sha256:7777
`
	for name, body := range map[string]string{"artifacts.txt": artifacts, "SHA256SUMS": "x  y\n",
		"sbom-linux-amd64.spdx.json": "{}", "sbom-linux-arm64.spdx.json": "{}"} {
		if err := os.WriteFile(filepath.Join(dist, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "sign-keyless"), dist)
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sign-keyless: %v\n%s", err, out)
	}
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sign --yes ghcr.io/tracebloc/edge-bootstrap@sha256:1111",
		"attest --yes --type spdxjson --predicate " + dist + "/sbom-linux-amd64.spdx.json ghcr.io/tracebloc/edge-bootstrap@sha256:1111",
		"attest --yes --type spdxjson --predicate " + dist + "/sbom-linux-arm64.spdx.json ghcr.io/tracebloc/edge-bootstrap@sha256:1111",
		"sign --yes ghcr.io/tracebloc/edge-bootstrap@sha256:2222",
		"attest --yes --type spdxjson --predicate " + dist + "/sbom-linux-amd64.spdx.json ghcr.io/tracebloc/edge-bootstrap@sha256:2222",
		"sign --yes ghcr.io/tracebloc/edge-bootstrap@sha256:3333",
		"sign --yes ghcr.io/tracebloc/charts/edge@sha256:5555",
		"sign --yes ghcr.io/tracebloc/plugins/tracebloc@sha256:6666",
		"sign-blob --yes --output-signature " + dist + "/SHA256SUMS.sig --output-certificate " + dist + "/SHA256SUMS.pem " + dist + "/SHA256SUMS",
	}
	if g := strings.Split(strings.TrimSpace(string(got)), "\n"); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("cosign calls:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}
