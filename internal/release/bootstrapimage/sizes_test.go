package bootstrapimage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/ociimage"
)

// sizeBounds are the most each platform's image may weigh, in bytes: the figures of the
// release build (the bootstrap from HEAD, the Debian CA bundle) when the bounds were set,
// plus 2 % headroom for ordinary growth. The sizes are a function of the source, the
// toolchain and the CA bundle, not of the machine's speed, so going over is a heavier
// image, not noise: find what grew (go version -m, the SBOM's packages), or raise the
// figure here on purpose and say why in the commit.
var sizeBounds = map[Platform]Size{
	{OS: "linux", Arch: "amd64"}: {Compressed: withHeadroom(11_083_883), Uncompressed: withHeadroom(28_325_888)},
	{OS: "linux", Arch: "arm64"}: {Compressed: withHeadroom(9_615_779), Uncompressed: withHeadroom(26_507_264)},
}

func withHeadroom(figure int64) int64 { return figure * 102 / 100 }

// releaseCA is the CA bundle a release copies into the image; without it the sizes are
// not the release's.
func releaseCA(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(ociimage.DebianCABundle); err != nil {
		tb.Skipf("no %s (Debian's ca-certificates package, which a release copies): %v", ociimage.DebianCABundle, err)
	}
	return ociimage.DebianCABundle
}

// TestSizeBounds: neither platform's image outgrows its figure by more than the headroom,
// in what a pull downloads (the gzip layer) or in what it unpacks to.
func TestSizeBounds(t *testing.T) {
	r := testRelease(t)
	r.CABundle = releaseCA(t)
	sizes, err := Sizes(assemble(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != len(sizeBounds) {
		t.Errorf("Sizes() gave %d platforms, sizeBounds has %d: give every platform its figures", len(sizes), len(sizeBounds))
	}
	for _, s := range sizes {
		bound, ok := sizeBounds[s.Platform]
		if !ok {
			t.Errorf("no size bound for %s: add its figures to sizeBounds", s.Platform)
			continue
		}
		t.Logf("%s: %d bytes compressed (bound %d), %d uncompressed (bound %d)", s.Platform, s.Compressed, bound.Compressed, s.Uncompressed, bound.Uncompressed)
		if s.Compressed > bound.Compressed {
			t.Errorf("%s image = %d bytes compressed, want at most %d (the figure + 2 %%)", s.Platform, s.Compressed, bound.Compressed)
		}
		if s.Uncompressed > bound.Uncompressed {
			t.Errorf("%s image = %d bytes uncompressed, want at most %d (the figure + 2 %%)", s.Platform, s.Uncompressed, bound.Uncompressed)
		}
	}
}

// BenchmarkSizes reports each platform's image size as metrics (bytes a pull downloads,
// bytes it unpacks to); the time per op is Sizes' reading of the layers.
//
//	go test -run '^$' -bench Sizes ./internal/release/bootstrapimage/
func BenchmarkSizes(b *testing.B) {
	built, err := Assemble(benchRelease(b), benchBinaries(b))
	if err != nil {
		b.Fatal(err)
	}
	var sizes []Size
	for b.Loop() {
		if sizes, err = Sizes(built); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range sizes {
		b.ReportMetric(float64(s.Compressed), s.Platform.Arch+"-compressed-B")
		b.ReportMetric(float64(s.Uncompressed), s.Platform.Arch+"-uncompressed-B")
	}
}

// benchRelease is testRelease for a benchmark, with the release's CA bundle.
func benchRelease(b *testing.B) Release {
	b.Helper()
	return Release{
		Version:  "v0.1.0",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Licenses: "Apache-2.0",
		Created:  time.Unix(1700000000, 0).UTC(),
		CABundle: releaseCA(b),
	}
}

// benchBinaries builds the bootstrap from HEAD for every platform, as binaries does for
// the tests, into the benchmark's temporary folder: b.Loop runs a benchmark's function
// once, so this is one build per benchmark.
func benchBinaries(b *testing.B) map[Platform]string {
	b.Helper()
	dir := b.TempDir()
	src, err := exportHead(filepath.Join(dir, "src"))
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	bins, err := BuildBinaries(context.Background(), BuildOptions{Root: src, Version: "v0.1.0", OutDir: dir, Stderr: &stderr})
	if err != nil {
		b.Fatalf("BuildBinaries() error = %v\n%s", err, stderr.String())
	}
	return bins
}
