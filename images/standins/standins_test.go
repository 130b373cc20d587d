package standins

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/tracebloc/edge/postrender/pins"
)

// fakeBinaries are stand-in files for the programs, so the image layout is tested
// without building anything.
func fakeBinaries(t *testing.T) Binaries {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return Binaries{
		Standin: write("tracebloc-standin", "standin"), Busybox: write("busybox", "busybox"),
		Applets: []string{"busybox", "chmod", "ls", "sh"}, CABundle: write("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
	}
}

// entry is a file of an image's file system as a container sees it.
type entry struct {
	Type   byte
	Mode   int64
	Target string
}

func fileSystem(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	fs := map[string]entry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		fs["/"+hdr.Name] = entry{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, Target: hdr.Linkname}
	}
}

func specOf(t *testing.T, repository string) Spec {
	t.Helper()
	for _, s := range Specs {
		if s.Repository == repository {
			return s
		}
	}
	t.Fatalf("no stand-in for %s", repository)
	return Spec{}
}

// TestImageLayout: the stand-in images run the binary with their role as a non-root user
// and carry the programs the chart calls by name; busybox is laid out as the official
// image (an applet per link in /bin, run as root unless the pod says otherwise).
func TestImageLayout(t *testing.T) {
	b := fakeBinaries(t)
	img, err := specOf(t, "docker.io/tracebloc/jobs-manager").Build(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; !slices.Equal(got, []string{Binary, "jobs-manager"}) || cfg.Config.User != "65532:65532" {
		t.Errorf("jobs-manager entrypoint %q user %q, want [%s jobs-manager] as 65532:65532", got, cfg.Config.User, Binary)
	}
	fs := fileSystem(t, img)
	want := map[string]entry{
		Binary:                               {Type: tar.TypeReg, Mode: 0o755},
		"/usr/bin/python":                    {Type: tar.TypeSymlink, Mode: 0o777, Target: "tracebloc-standin"},
		"/usr/bin/mysqladmin":                {Type: tar.TypeSymlink, Mode: 0o777, Target: "tracebloc-standin"},
		"/usr/bin/squid":                     {Type: tar.TypeSymlink, Mode: 0o777, Target: "tracebloc-standin"},
		"/app":                               {Type: tar.TypeDir, Mode: 0o755},
		"/etc/ssl/certs/ca-certificates.crt": {Type: tar.TypeReg, Mode: 0o644},
	}
	for p, w := range want {
		if diff := cmp.Diff(w, fs[p]); diff != "" {
			t.Errorf("jobs-manager image %s (-want +got):\n%s", p, diff)
		}
	}

	bb, err := specOf(t, "docker.io/library/busybox").Build(b)
	if err != nil {
		t.Fatal(err)
	}
	fs = fileSystem(t, bb)
	for _, a := range []string{"sh", "ls", "chmod"} {
		if e := fs["/bin/"+a]; e.Type != tar.TypeSymlink || e.Target != "busybox" {
			t.Errorf("busybox image /bin/%s = %+v, want a link to busybox", a, e)
		}
	}
	if e := fs["/bin/busybox"]; e.Type != tar.TypeReg || e.Mode != 0o755 {
		t.Errorf("busybox image /bin/busybox = %+v, want the program, 0755", e)
	}
	if cfg, _ := bb.ConfigFile(); cfg.Config.User != "" || !slices.Equal(cfg.Config.Cmd, []string{"sh"}) {
		t.Errorf("busybox config user %q cmd %q, want root and [sh]", cfg.Config.User, cfg.Config.Cmd)
	}
}

// TestBuildIsReproducible: the same binaries give the same digests, so a pin list of one
// build fits the next.
func TestBuildIsReproducible(t *testing.T) {
	b := fakeBinaries(t)
	for _, s := range Specs {
		first, err := s.Build(b)
		if err != nil {
			t.Fatal(err)
		}
		second, err := s.Build(b)
		if err != nil {
			t.Fatal(err)
		}
		d1, _ := first.Digest()
		d2, _ := second.Digest()
		if d1 != d2 {
			t.Errorf("%s: two builds have digests %s and %s, want equal", s.Repository, d1, d2)
		}
	}
}

// recordingPusher answers each push with the image's digest, as a registry does.
type recordingPusher struct{ refs []string }

func (p *recordingPusher) PushImage(_ context.Context, img v1.Image, ref string) (string, error) {
	p.refs = append(p.refs, ref)
	d, err := img.Digest()
	return d.String(), err
}

// TestPinListPinsWhatTheChartRenders: every image reference the client chart renders with
// its default values resolves, through the post-renderer's pin parser, to the digest pushed.
func TestPinListPinsWhatTheChartRenders(t *testing.T) {
	p := &recordingPusher{}
	got, err := Push(context.Background(), p, fakeBinaries(t))
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse([]byte(PinList(got)))
	if err != nil {
		t.Fatalf("the pin list does not parse: %v\n%s", err, PinList(got))
	}
	pushed := map[string]string{}
	for _, pin := range got {
		pushed[pin.Name+":"+pin.Tag] = pin.Name + "@" + pin.Digest
	}
	for _, ref := range []string{
		"docker.io/tracebloc/jobs-manager:prod", "docker.io/tracebloc/jobs-manager:dev",
		"docker.io/tracebloc/pods-monitor:stg", "docker.io/tracebloc/resource-monitor:prod",
		"docker.io/tracebloc/mysql-client:prod", "docker.io/library/busybox:1.35", "docker.io/ubuntu/squid:6.6-24.04_beta",
	} {
		want, ok := pushed[ref]
		if !ok {
			t.Errorf("%s was not pushed (pushed: %v)", ref, p.refs)
			continue
		}
		if got, ok := set.Resolve(ref); !ok || got != want {
			t.Errorf("pin of %s = %q, %v; want %q", ref, got, ok, want)
		}
	}
}
