package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testSpec(binary string) Spec {
	return Spec{
		Files:      append([]File{{Path: "/app/tool", Mode: 0o755, Data: []byte(binary)}}, NonrootFiles()...),
		Entrypoint: []string{"/app/tool"},
		User:       "65532:65532",
		Labels:     map[string]string{"org.opencontainers.image.version": "v1.2.3"},
	}
}

func digestOf(t *testing.T, spec Spec) (string, []byte) {
	t.Helper()
	img, err := Build(spec)
	if err != nil {
		t.Fatalf("Build() error: %v", err)
	}
	var buf bytes.Buffer
	digest, err := WriteLayout(&buf, img, "example.com/tool:v1.2.3")
	if err != nil {
		t.Fatalf("WriteLayout() error: %v", err)
	}
	return digest, buf.Bytes()
}

func TestBuildIsReproducible(t *testing.T) {
	d1, tar1 := digestOf(t, testSpec("binary"))
	d2, tar2 := digestOf(t, testSpec("binary"))
	if d1 != d2 {
		t.Errorf("same inputs: digests %s and %s, want equal", d1, d2)
	}
	if !bytes.Equal(tar1, tar2) {
		t.Errorf("same inputs: the tarballs differ")
	}
	if d3, _ := digestOf(t, testSpec("other binary")); d3 == d1 {
		t.Errorf("different binary: same digest %s, want a different one", d1)
	}
}

// readTar returns the entries of a tarball by name.
func readTar(t *testing.T, data []byte) (map[string]*tar.Header, map[string][]byte, []string) {
	t.Helper()
	headers, contents := map[string]*tar.Header{}, map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		headers[hdr.Name], contents[hdr.Name] = hdr, b
		order = append(order, hdr.Name)
	}
	return headers, contents, order
}

func TestLayerHoldsFilesAndParents(t *testing.T) {
	layer, err := layerTarball(testSpec("binary").Files)
	if err != nil {
		t.Fatal(err)
	}
	headers, contents, order := readTar(t, layer)
	want := []string{"app/", "app/tool", "etc/", "etc/group", "etc/passwd", "home/", "home/nonroot/", "tmp/"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	for name, hdr := range headers {
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d gid %d mtime %v, want root and the epoch", name, hdr.Uid, hdr.Gid, hdr.ModTime)
		}
	}
	if got := headers["app/tool"].Mode; got != 0o755 {
		t.Errorf("app/tool mode = %o, want 755", got)
	}
	if got := headers["tmp/"].Mode; got != 0o1777 {
		t.Errorf("tmp mode = %o, want 1777", got)
	}
	if !strings.Contains(string(contents["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd lacks nonroot 65532:\n%s", contents["etc/passwd"])
	}
	if !strings.Contains(string(contents["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("etc/group lacks nonroot 65532:\n%s", contents["etc/group"])
	}
}

func TestLayerRejectsDuplicates(t *testing.T) {
	_, err := layerTarball([]File{{Path: "/a", Data: []byte("1")}, {Path: "a", Data: []byte("2")}})
	if err == nil {
		t.Fatal("layerTarball(two files at /a) error = nil, want an error")
	}
}

func TestRepository(t *testing.T) {
	tests := []struct{ name, ref, want string }{
		{name: "tag", ref: "ghcr.io/a/b:v1", want: "ghcr.io/a/b"},
		{name: "registry port, tag", ref: "localhost:5000/a:v1", want: "localhost:5000/a"},
		{name: "registry port, no tag", ref: "localhost:5000/a", want: "localhost:5000/a"},
		{name: "no tag", ref: "a/b", want: "a/b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := repository(tc.ref); got != tc.want {
				t.Errorf("repository(%q) = %q, want %q", tc.ref, got, tc.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	img, err := Build(testSpec("binary"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"os": cfg.OS, "arch": cfg.Architecture, "user": cfg.Config.User,
		"entrypoint": cfg.Config.Entrypoint, "labels": cfg.Config.Labels, "created": cfg.Created.Unix(),
	}
	want := map[string]any{
		"os": "linux", "arch": "amd64", "user": "65532:65532",
		"entrypoint": []string{"/app/tool"}, "labels": map[string]string{"org.opencontainers.image.version": "v1.2.3"}, "created": int64(0),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestLayout checks the OCI layout: index naming the image, every blob at its digest.
func TestLayout(t *testing.T) {
	digest, data := digestOf(t, testSpec("binary"))
	_, contents, _ := readTar(t, data)
	var ociLayout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(contents["oci-layout"], &ociLayout); err != nil || ociLayout.Version != "1.0.0" {
		t.Errorf("oci-layout = %s (%v), want imageLayoutVersion 1.0.0", contents["oci-layout"], err)
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(contents["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var names []string
	for _, m := range index.Manifests {
		if m.Digest != digest {
			t.Errorf("index.json manifest digest = %s, want %s", m.Digest, digest)
		}
		names = append(names, m.Annotations["io.containerd.image.name"])
	}
	wantNames := []string{"example.com/tool:v1.2.3", "example.com/tool@" + digest}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("index.json image names (-want +got):\n%s", diff)
	}
	if got := index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "example.com/tool:v1.2.3" {
		t.Errorf("ref.name annotation = %q, want the tagged reference", got)
	}
	blobs := 0
	for name, b := range contents {
		hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/")
		if !ok || hexDigest == "" {
			continue
		}
		blobs++
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != hexDigest {
			t.Errorf("blob %s has sha256 %s", name, got)
		}
	}
	if blobs != 3 {
		t.Errorf("%d blobs, want 3 (manifest, config, layer)", blobs)
	}
	if _, ok := contents["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]; !ok {
		t.Errorf("no blob for the manifest %s", digest)
	}
}

// TestCreated: the config and its history carry Spec.Created, the epoch when it is zero;
// the layer's files stay at the epoch, so the layer digest does not change with it.
func TestCreated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		created time.Time
		want    time.Time
	}{
		{name: "zero", want: time.Unix(0, 0).UTC()},
		{name: "set", created: time.Unix(1700000000, 0), want: time.Unix(1700000000, 0).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Build(Spec{Files: []File{{Path: "/a", Mode: 0o644, Data: []byte("a")}}, Created: tc.created})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Created.Equal(tc.want) || len(cfg.History) != 1 || !cfg.History[0].Created.Equal(tc.want) {
				t.Errorf("Build(Created: %v) config created = %v, history %v; want %v", tc.created, cfg.Created, cfg.History, tc.want)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			base, err := Build(Spec{Files: []File{{Path: "/a", Mode: 0o644, Data: []byte("a")}}})
			if err != nil {
				t.Fatal(err)
			}
			baseLayers, err := base.Layers()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := layers[0].Digest()
			want, _ := baseLayers[0].Digest()
			if got != want {
				t.Errorf("layer digest with Created %v = %s, want the epoch layer's %s", tc.created, got, want)
			}
		})
	}
}
