package cluster

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tracebloc/edge/internal/ociimage"
)

func TestLocalRef(t *testing.T) {
	const addr = "127.0.0.1:20007"
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name, ref, want, wantErr string
	}{
		{name: "ghcr tag", ref: "ghcr.io/tracebloc/edge-bootstrap:v1", want: addr + "/tracebloc/edge-bootstrap:v1"},
		{name: "ghcr digest", ref: "ghcr.io/tracebloc/edge-bootstrap@" + digest, want: addr + "/tracebloc/edge-bootstrap@" + digest},
		{name: "docker.io", ref: "docker.io/tracebloc/jobs-manager:prod", want: addr + "/tracebloc/jobs-manager:prod"},
		{name: "docker hub short name", ref: "busybox", want: addr + "/library/busybox:latest"},
		{name: "the registry itself", ref: addr + "/a/b:c", want: addr + "/a/b:c"},
		{name: "another registry", ref: "quay.io/a/b:c", wantErr: "pulls only ghcr.io, docker.io and " + addr},
		{name: "another loopback port", ref: "127.0.0.1:1/a/b:c", wantErr: "pulls only"},
		{name: "not a reference", ref: "ghcr.io/A B", wantErr: "image reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := localRef(tc.ref, addr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("localRef(%q) error = %v, want %q", tc.ref, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("localRef(%q) error = %v", tc.ref, err)
			}
			if got.String() != tc.want {
				t.Errorf("localRef(%q) = %s, want %s", tc.ref, got, tc.want)
			}
		})
	}
}

// TestHostsFiles: every mirrored registry and the registry's own address resolve only to
// the instance's registry, trusting the instance's CA; no file leaves the real registry
// as a fallback.
func TestHostsFiles(t *testing.T) {
	p := paths("/c")
	files := hostsFiles(p, 20007)
	want := []string{"/c/containerd/certs.d/127.0.0.1:20007/hosts.toml", "/c/containerd/certs.d/docker.io/hosts.toml", "/c/containerd/certs.d/ghcr.io/hosts.toml"}
	if len(files) != len(want) {
		t.Errorf("hostsFiles() = %d files, want %v", len(files), want)
	}
	for _, file := range want {
		content, ok := files[file]
		if !ok {
			t.Errorf("hostsFiles() has no %s", file)
			continue
		}
		for _, line := range []string{
			`server = "https://127.0.0.1:20007"`,
			`[host."https://127.0.0.1:20007"]`,
			`capabilities = ["pull", "resolve"]`,
			`ca = "/c/pki/ca.crt"`,
		} {
			if !strings.Contains(content, line) {
				t.Errorf("%s lacks %s:\n%s", file, line, content)
			}
		}
		if n := strings.Count(content, `ca = "/c/pki/ca.crt"`); n != 2 {
			t.Errorf("%s trusts the CA %d times, want for the server and the host:\n%s", file, n, content)
		}
		if n := strings.Count(content, "https://"); n != 2 {
			t.Errorf("%s names %d URLs, want the registry's twice (server and host):\n%s", file, n, content)
		}
	}
	if cfg := containerdConfig(p); !strings.Contains(cfg, `config_path = "/c/containerd/certs.d"`) {
		t.Errorf("containerd config lacks config_path of certs.d:\n%s", cfg)
	}
}

// startTestRegistry serves an in-memory registry with the instance's serving certificate
// on 127.0.0.1, as the harness's registry does.
func startTestRegistry(t *testing.T) *Cluster {
	t.Helper()
	dir := t.TempDir()
	p := paths(dir)
	if err := writePKI(p, "unit"); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.pki("registry.crt"), p.pki("registry.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.Listener.Close()
	srv.Listener = l
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &Cluster{Dir: dir, Ports: Ports{Registry: l.Addr().(*net.TCPAddr).Port}}
}

// TestPushImage: PushImage uploads over TLS trusting the instance's CA, under the name the
// mirror maps the ghcr.io reference to, and returns the digest the registry serves.
func TestPushImage(t *testing.T) {
	c := startTestRegistry(t)
	img, err := ociimage.Build(ociimage.Spec{Files: []ociimage.File{{Path: "/hello", Mode: 0o644, Data: []byte("hello")}}, Entrypoint: []string{"/hello"}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	digest, err := c.PushImage(ctx, img, "ghcr.io/tracebloc/edge-bootstrap:local")
	if err != nil {
		t.Fatalf("PushImage() error = %v", err)
	}
	if digest != want.String() {
		t.Errorf("PushImage() = %s, want %s", digest, want)
	}
	tr, err := registryTransport(paths(c.Dir), c.Ports.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{c.RegistryAddr() + "/tracebloc/edge-bootstrap:local", c.RegistryAddr() + "/tracebloc/edge-bootstrap@" + digest} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r, remote.WithContext(ctx), remote.WithTransport(tr))
		if err != nil {
			t.Fatalf("get %s after the push: %v", ref, err)
		}
		if desc.Digest.String() != digest {
			t.Errorf("registry serves %s at %s, want %s", ref, desc.Digest, digest)
		}
	}

	// An image tarball as images/build writes it gives the same image.
	tarball := filepath.Join(t.TempDir(), "image.tar")
	if _, err := ociimage.WriteLayoutFile(tarball, img, "ghcr.io/tracebloc/edge-bootstrap:local"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.PushImageFile(ctx, tarball, "docker.io/tracebloc/other:v1"); err != nil || got != digest {
		t.Errorf("PushImageFile() = %s, %v, want %s", got, err, digest)
	}
	if _, err := c.PushImage(ctx, img, "quay.io/tracebloc/edge-bootstrap:local"); err == nil {
		t.Error("PushImage(quay.io/...) succeeded, want a refusal: containerd would not pull it from the registry")
	}
}

// TestRegistryTransportDialsOnlyTheRegistry: neither a redirect nor a mistaken reference
// makes the pusher reach anything but the instance's registry.
func TestRegistryTransportDialsOnlyTheRegistry(t *testing.T) {
	c := startTestRegistry(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the registry transport reached another server: %s %s", r.Method, r.URL)
	}))
	defer other.Close()
	tr, err := registryTransport(paths(c.Dir), c.Ports.Registry)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Get(other.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s through the registry transport succeeded, want a refusal", other.URL)
	}
	if !strings.Contains(err.Error(), "nothing else is reached") {
		t.Errorf("GET %s error = %v, want the refusal to dial", other.URL, err)
	}
}
