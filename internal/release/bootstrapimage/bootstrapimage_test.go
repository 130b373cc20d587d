package bootstrapimage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/ociimage"
)

// The binaries are built once for the package's tests, from the committed tree.
var (
	buildOnce sync.Once
	built     map[Platform]string
	buildErr  error
	buildDir  string
	source    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binaries are the bootstrap for every platform, built from HEAD (exported to source).
func binaries(t *testing.T) map[Platform]string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bootstrapimage-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		if source, buildErr = exportHead(filepath.Join(dir, "src")); buildErr != nil {
			return
		}
		var stderr bytes.Buffer
		built, buildErr = BuildBinaries(context.Background(), BuildOptions{Root: source, Version: "v0.1.0", OutDir: dir, Stderr: &stderr})
		if buildErr != nil {
			t.Log(stderr.String())
		}
	})
	if buildErr != nil {
		t.Fatalf("BuildBinaries() error = %v", buildErr)
	}
	return built
}

// exportHead writes the repository's HEAD into dir, as releasetest.Source does, but for
// every test of the package: a release is made of a commit.
func exportHead(dir string) (string, error) {
	root, err := clustertest.RepoRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("sh", "-c", `git -C "$1" archive --format=tar HEAD | tar -x -C "$2"`, "sh", root, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("export HEAD: %v: %s", err, out)
	}
	return dir, nil
}

func testRelease(t *testing.T) Release {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Release{
		Version:  "v0.1.0",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Licenses: "Apache-2.0",
		Created:  time.Unix(1700000000, 0).UTC(),
		CABundle: ca,
	}
}

func assemble(t *testing.T, r Release) *Built {
	t.Helper()
	b, err := Assemble(r, binaries(t))
	if err != nil {
		t.Fatalf("Assemble() error = %v", err)
	}
	return b
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestReproducible: building the binaries again from the same source (into another
// folder) and assembling again gives the same index digest; another revision gives
// another one.
func TestReproducible(t *testing.T) {
	r := testRelease(t)
	first := digestOf(t, assemble(t, r).Index)

	again, err := BuildBinaries(context.Background(), BuildOptions{Root: source, Version: "v0.1.0", OutDir: t.TempDir()})
	if err != nil {
		t.Fatalf("BuildBinaries() again error = %v", err)
	}
	b, err := Assemble(r, again)
	if err != nil {
		t.Fatalf("Assemble() error = %v", err)
	}
	if second := digestOf(t, b.Index); second != first {
		t.Errorf("index digest of a second build = %s, want %s (the first build's)", second, first)
	}

	other := r
	other.Revision = strings.Repeat("f", 40)
	if d := digestOf(t, assemble(t, other).Index); d == first {
		t.Errorf("index digest with another revision = %s, the same as with %s", d, r.Revision)
	}
}

// TestIndex: the index lists linux/amd64 and linux/arm64, each manifest's config says
// its platform, and the index and every manifest carry the release's annotations.
func TestIndex(t *testing.T) {
	r := testRelease(t)
	b := assemble(t, r)
	im, err := b.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"org.opencontainers.image.source":      "https://github.com/tracebloc/edge",
		"org.opencontainers.image.revision":    r.Revision,
		"org.opencontainers.image.version":     "v0.1.0",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     "2023-11-14T22:13:20Z",
		"org.opencontainers.image.title":       Title,
		"org.opencontainers.image.description": Description,
	}
	if diff := cmp.Diff(want, im.Annotations); diff != "" {
		t.Errorf("index annotations (-want +got):\n%s", diff)
	}
	if len(im.Manifests) != len(Platforms) {
		t.Fatalf("index has %d manifests, want %d", len(im.Manifests), len(Platforms))
	}
	for i, p := range Platforms {
		desc := im.Manifests[i]
		if desc.Platform == nil || desc.Platform.OS != p.OS || desc.Platform.Architecture != p.Arch {
			t.Errorf("manifest %d platform = %+v, want %s", i, desc.Platform, p)
		}
		img := b.Images[i].Image
		if d := digestOf(t, img); d != desc.Digest {
			t.Errorf("manifest %d digest = %s, want the %s image's %s", i, desc.Digest, p, d)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, m.Annotations); diff != "" {
			t.Errorf("%s manifest annotations (-want +got):\n%s", p, diff)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != p.OS || cfg.Architecture != p.Arch || !cfg.Created.Equal(r.Created) {
			t.Errorf("%s config = %s/%s created %s, want %s created %s", p, cfg.OS, cfg.Architecture, cfg.Created, p, r.Created)
		}
	}
}

// spdx is the part of the SBOM the test reads.
type spdx struct {
	SPDXVersion       string `json:"spdxVersion"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created string `json:"created"`
	} `json:"creationInfo"`
	Packages []struct {
		SPDXID       string `json:"SPDXID"`
		Name         string `json:"name"`
		VersionInfo  string `json:"versionInfo"`
		Checksums    []spdxChecksum
		ExternalRefs []spdxExternalRef `json:"externalRefs"`
	} `json:"packages"`
	Files []struct {
		FileName  string         `json:"fileName"`
		Checksums []spdxChecksum `json:"checksums"`
	} `json:"files"`
}

// TestSBOM: each platform's SBOM is SPDX 2.3, named after its image's digest, dated at
// the release's time, and lists the modules of go.mod that the bootstrap links with
// their versions and purls, the toolchain, and the CA bundle with its checksum.
func TestSBOM(t *testing.T) {
	r := testRelease(t)
	b := assemble(t, r)
	wantDeps := linkedModules(t)
	for _, pi := range b.Images {
		var doc spdx
		if err := json.Unmarshal(pi.SBOM, &doc); err != nil {
			t.Fatalf("%s SBOM: %v", pi.Platform, err)
		}
		img := digestOf(t, pi.Image)
		if doc.SPDXVersion != "SPDX-2.3" || !strings.HasSuffix(doc.DocumentNamespace, "sha256-"+img.Hex) || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
			t.Errorf("%s SBOM = %s %s %s, want SPDX-2.3, a namespace ending sha256-%s, created 2023-11-14T22:13:20Z", pi.Platform, doc.SPDXVersion, doc.DocumentNamespace, doc.CreationInfo.Created, img.Hex)
		}
		got := map[string]string{}
		for _, p := range doc.Packages {
			if len(p.ExternalRefs) > 0 {
				got[p.Name] = p.ExternalRefs[0].Locator
			}
		}
		for path, version := range wantDeps {
			if want := "pkg:golang/" + path + "@" + version; got[path] != want {
				t.Errorf("%s SBOM purl of %s = %q, want %q", pi.Platform, path, got[path], want)
			}
		}
		if want := "pkg:golang/stdlib@" + runtime.Version(); got["stdlib"] != want {
			t.Errorf("%s SBOM toolchain = %q, want %q", pi.Platform, got["stdlib"], want)
		}
		ca, err := os.ReadFile(r.CABundle)
		if err != nil {
			t.Fatal(err)
		}
		wantCA := spdxFileOf("", ociimage.DebianCABundle, ca)
		var found bool
		for _, f := range doc.Files {
			if f.FileName == "."+ociimage.DebianCABundle {
				found = true
				if diff := cmp.Diff(wantCA.Checksums, f.Checksums); diff != "" {
					t.Errorf("%s SBOM CA bundle checksums (-want +got):\n%s", pi.Platform, diff)
				}
			}
		}
		if !found {
			t.Errorf("%s SBOM lists no file %s", pi.Platform, ociimage.DebianCABundle)
		}
	}
}

// linkedModules are a few modules of go.mod the bootstrap links, with the versions the
// go command resolves in the source the binaries were built from.
func linkedModules(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Version}}", "k8s.io/client-go", "github.com/rs/zerolog", "github.com/sethvargo/go-envconfig")
	cmd.Dir = source
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, version, ok := strings.Cut(line, " "); ok {
			want[path] = version
		}
	}
	if len(want) != 3 {
		t.Fatalf("go list -m gave %q, want three modules", out)
	}
	return want
}

// TestSizes: each platform's layer stays under the 30 MB budget of BENCHMARKS.md.
func TestSizes(t *testing.T) {
	sizes, err := Sizes(assemble(t, testRelease(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != len(Platforms) {
		t.Fatalf("Sizes() gave %d platforms, want %d", len(sizes), len(Platforms))
	}
	for _, s := range sizes {
		t.Logf("%s: %d bytes compressed, %d uncompressed", s.Platform, s.Compressed, s.Uncompressed)
		if s.Uncompressed >= 30_000_000 || s.Compressed <= 0 || s.Compressed >= s.Uncompressed {
			t.Errorf("%s size = %d compressed, %d uncompressed; want 0 < compressed < uncompressed < 30 MB", s.Platform, s.Compressed, s.Uncompressed)
		}
	}
}

func TestCreatedFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		set         bool
		want        time.Time
		wantErr     bool
	}{
		{name: "unset", want: time.Unix(0, 0).UTC()},
		{name: "seconds", value: "1700000000", set: true, want: time.Unix(1700000000, 0).UTC()},
		{name: "not a number", value: "yesterday", set: true, wantErr: true},
		{name: "negative", value: "-1", set: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CreatedFromEnv(func(string) (string, bool) { return tc.value, tc.set })
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
				t.Errorf("CreatedFromEnv(%q) = %v, %v; want %v, error %v", tc.value, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
