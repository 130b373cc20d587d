package cluster

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// MirroredRegistries are the registries whose images containerd pulls from the instance's
// own registry (hosts.toml of each names it as the only host): an image pushed with
// PushImage under one of these names is pulled by that name, as on a real cluster. Their
// repositories share one namespace in the local registry: ghcr.io/a/b and docker.io/a/b
// are the same image there.
var MirroredRegistries = []string{"ghcr.io", "docker.io"}

// registryAddr is where the instance's registry listens.
func registryAddr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// registryConfig is the configuration of the distribution registry: TLS with the
// instance's serving certificate, storage in the instance folder, an access log line per
// request (the proof of a pull), no debug listener, no storage health check.
func registryConfig(p paths, st state, secret string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: %q
  tls:
    certificate: %q
    key: %q
health:
  storagedriver:
    enabled: false
`, p.registry("data"), registryAddr(st.Ports.Registry), secret, p.pki("registry.crt"), p.pki("registry.key"))
}

// registryEnv turns off the registry's trace export: its default sends spans to an OTLP
// collector.
var registryEnv = []string{"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none"}

func registryArgs(p paths) []string { return []string{"serve", p.registry("config.yml")} }

// hostsTOML is containerd's host configuration for one registry host namespace: the
// instance's registry is the server and the only host, so a failed pull never falls back
// to the real registry on the internet. The [host] tree is needed: containerd 1.6 refuses
// a hosts.toml without one. containerd tries the server after the host, so it trusts the
// CA too (else a missing image reads as a certificate error).
func hostsTOML(p paths, port int) string {
	url := "https://" + registryAddr(port)
	return fmt.Sprintf(`server = %q
ca = %q

[host.%q]
  capabilities = ["pull", "resolve"]
  ca = %q
`, url, p.pki("ca.crt"), url, p.pki("ca.crt"))
}

// hostsFiles maps each hosts.toml under the containerd config_path to its content: the
// mirrored registries and the registry's own address.
func hostsFiles(p paths, port int) map[string]string {
	files := map[string]string{}
	for _, host := range append(append([]string{}, MirroredRegistries...), registryAddr(port)) {
		files[p.containerd("certs.d", host, "hosts.toml")] = hostsTOML(p, port)
	}
	return files
}

// registryTransport trusts only the instance's CA and dials only the instance's registry,
// whatever a redirect or the environment's proxy settings say.
func registryTransport(p paths, port int) (*http.Transport, error) {
	caPEM, err := os.ReadFile(p.pki("ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA for its registry: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("read the cluster CA %s: no certificate in it (remove the instance with `scripts/cluster down`)", p.pki("ca.crt"))
	}
	addr := registryAddr(port)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if a != addr {
				return nil, fmt.Errorf("dial %s: the cluster's registry is %s, nothing else is reached", a, addr)
			}
			return dialer.DialContext(ctx, network, a)
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
	}, nil
}

// registryReady checks the registry's API root (GET /v2/ answers 200 without auth).
func registryReady(ctx context.Context, p paths, port int) error {
	tr, err := registryTransport(p, port)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+registryAddr(port)+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/ of the registry: %s", resp.Status)
	}
	return nil
}

// RegistryAddr is the host:port of the instance's registry (127.0.0.1:PORT).
func (c *Cluster) RegistryAddr() string { return registryAddr(c.Ports.Registry) }

// CAFile is the instance's certificate authority: the API server, the kubelet and the
// registry serve certificates it signed.
func (c *Cluster) CAFile() string { return paths(c.Dir).pki("ca.crt") }

// LocalRef returns where ref lives in the instance's registry: an image of a mirrored
// registry (ghcr.io/tracebloc/edge-bootstrap:v1) is 127.0.0.1:PORT/tracebloc/edge-bootstrap:v1,
// which containerd resolves for the original name through its mirror configuration.
func (c *Cluster) LocalRef(ref string) (name.Reference, error) {
	return localRef(ref, c.RegistryAddr())
}

func localRef(ref, addr string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w (give registry/repository:tag or @sha256:digest)", ref, err)
	}
	host := r.Context().RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	known := host == addr
	for _, m := range MirroredRegistries {
		known = known || host == m
	}
	if !known {
		return nil, fmt.Errorf("image %s: the cluster's containerd pulls only %s and %s from its registry: name the image in one of them",
			ref, strings.Join(MirroredRegistries, ", "), addr)
	}
	local := addr + "/" + r.Context().RepositoryStr()
	if d, ok := r.(name.Digest); ok {
		return name.NewDigest(local+"@"+d.DigestStr(), name.StrictValidation)
	}
	return name.NewTag(local+":"+r.Identifier(), name.StrictValidation)
}

// PushImage uploads img to the instance's registry under ref, named as on a real registry
// (see LocalRef), and returns its manifest digest ("sha256:..."), by which a pod can run
// it (ghcr.io/tracebloc/edge-bootstrap@sha256:...).
func (c *Cluster) PushImage(ctx context.Context, img v1.Image, ref string) (string, error) {
	local, err := c.LocalRef(ref)
	if err != nil {
		return "", err
	}
	tr, err := registryTransport(paths(c.Dir), c.Ports.Registry)
	if err != nil {
		return "", err
	}
	defer tr.CloseIdleConnections()
	if err := remote.Write(local, img, remote.WithContext(ctx), remote.WithTransport(tr), remote.WithAuth(authn.Anonymous)); err != nil {
		return "", fmt.Errorf("push %s to the cluster's registry (log: %s): %w", ref, paths(c.Dir).logs("registry"), err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", ref, err)
	}
	return digest.String(), nil
}

// PushImageFile is PushImage for an OCI image layout tarball (as images/build writes):
// the first manifest of its index.
func (c *Cluster) PushImageFile(ctx context.Context, tarball, ref string) (string, error) {
	dir, err := os.MkdirTemp("", "tracebloc-image-")
	if err != nil {
		return "", fmt.Errorf("unpack image %s: %w", tarball, err)
	}
	defer os.RemoveAll(dir)
	img, err := readLayoutTarball(tarball, dir)
	if err != nil {
		return "", err
	}
	return c.PushImage(ctx, img, ref)
}

// maxLayoutFile bounds each file of an image tarball unpacked for a push.
const maxLayoutFile = 1 << 30

// readLayoutTarball unpacks an OCI layout tarball into dir and returns the image of its
// index's first manifest.
func readLayoutTarball(tarball, dir string) (v1.Image, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", tarball, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", tarball, err)
		}
		clean := filepath.Clean(hdr.Name)
		if !filepath.IsLocal(clean) {
			return nil, fmt.Errorf("read image %s: entry %q leaves the layout", tarball, hdr.Name)
		}
		target := filepath.Join(dir, clean)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, fmt.Errorf("unpack image %s: %w", tarball, err)
			}
		case tar.TypeReg:
			if hdr.Size > maxLayoutFile {
				return nil, fmt.Errorf("read image %s: %s is larger than %d bytes", tarball, hdr.Name, maxLayoutFile)
			}
			if err := writeEntry(target, tr); err != nil {
				return nil, fmt.Errorf("unpack image %s: %w", tarball, err)
			}
		default:
			return nil, fmt.Errorf("read image %s: entry %q is neither a file nor a folder", tarball, hdr.Name)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read image %s as an OCI layout: %w", tarball, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", tarball, err)
	}
	if len(m.Manifests) == 0 {
		return nil, fmt.Errorf("read image %s: its index lists no image", tarball)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", tarball, err)
	}
	return img, nil
}

func writeEntry(target string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(r, maxLayoutFile)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Images lists the image references the kubelet's containerd holds (pulled or imported).
func (c *Cluster) Images(ctx context.Context) ([]string, error) {
	out, err := ctr(ctx, paths(c.Dir), "-n", criNamespace, "images", "ls", "-q")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}
