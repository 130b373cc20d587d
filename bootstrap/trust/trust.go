// Package trust provides the CA bundle the bootstrap hands to the client's workloads: the
// roots of the bootstrap image (its SSL_CERT_FILE) followed by the extra CA of the chart
// (backend.caBundle), so that the client's containers trust what the bootstrap trusts,
// the public roots and a corporate TLS-inspecting proxy alike.
//
// The bootstrap writes the bundle into a volume the jobs-manager pod shares with its
// containers, and into the node-agents copy of the credential, where the resource-monitor
// reads it; the post-renderer points SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE
// of those containers at it.
package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Limits of the inputs. The bundle goes into a Secret (at most 1 MiB with its other keys),
// so the whole stays well under that: Debian's roots are about 220 KiB.
const (
	MaxExtra  = 256 << 10
	MaxBundle = 768 << 10
)

// Bundle reads the image's roots (system; a missing file gives the extra CA alone, as in a
// scratch image) and the extra CA bundle, checks that every PEM block of the extra bundle is
// a certificate, and returns the roots followed by the extra certificates.
func Bundle(system, extra string) ([]byte, error) {
	more, err := readBounded(extra, MaxExtra)
	if err != nil {
		return nil, fmt.Errorf("read the extra CA bundle: %w (mount the ConfigMap or Secret of backend.caBundle there)", err)
	}
	certs, err := certificates(more)
	if err != nil {
		return nil, fmt.Errorf("the extra CA bundle %s: %w: put PEM certificates (-----BEGIN CERTIFICATE-----) under the key backend.caBundle.key names", extra, err)
	}
	roots, err := readBounded(system, MaxBundle)
	if errors.Is(err, os.ErrNotExist) {
		roots = nil
	} else if err != nil {
		return nil, fmt.Errorf("read the image's CA roots: %w", err)
	}
	var b bytes.Buffer
	b.Write(roots)
	if len(roots) > 0 && roots[len(roots)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString("# the extra CA bundle of the tracebloc edge chart (backend.caBundle)\n")
	for _, c := range certs {
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return nil, err
		}
	}
	if b.Len() > MaxBundle {
		return nil, fmt.Errorf("the CA bundle would be %d bytes, more than the %d a Secret can carry here: trim backend.caBundle to the CAs the backend needs", b.Len(), MaxBundle)
	}
	return b.Bytes(), nil
}

// certificates parses every PEM block of data; it wants at least one and only
// certificates.
func certificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n, safeType(block.Type))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid certificate: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return certs, nil
}

// safeType bounds a PEM block's type for a message.
func safeType(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// Write puts bundle at path (mode 0644), through a temporary file in the same folder and a
// rename, so that a reader never sees half a bundle.
func Write(path string, bundle []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".trust-*")
	if err != nil {
		return fmt.Errorf("write the CA bundle for the client's containers into %s: %w (the chart mounts a writable volume there)", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(bundle); err != nil {
		tmp.Close()
		return fmt.Errorf("write the CA bundle %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write the CA bundle %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the CA bundle %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the CA bundle %s: %w", path, err)
	}
	return nil
}
