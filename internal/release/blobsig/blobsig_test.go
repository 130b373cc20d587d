package blobsig_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

const sums = "0123abcd  tracebloc-postrender_0.4.0_linux_amd64.tar.gz\n"

func TestSignVerify(t *testing.T) {
	key, other := releasetest.ECKey(t), releasetest.ECKey(t)
	sig, err := blobsig.Sign(rand.Reader, key, strings.NewReader(sums))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base64.StdEncoding.DecodeString(string(sig)); err != nil || bytes.HasSuffix(sig, []byte("\n")) {
		t.Fatalf("Sign = %q, want base64 without a newline (%v)", sig, err)
	}
	der, _ := base64.StdEncoding.DecodeString(string(sig))
	corrupt := bytes.Clone(der)
	corrupt[len(corrupt)-1] ^= 1
	for _, tc := range []struct {
		name string
		key  *ecdsa.PublicKey
		blob string
		sig  []byte
		want error // nil: valid; errBadBase64: any other error
	}{
		{"valid", &key.PublicKey, sums, sig, nil},
		{"valid with a newline", &key.PublicKey, sums, append(bytes.Clone(sig), '\n'), nil},
		{"tampered file", &key.PublicKey, strings.Replace(sums, "0123", "0124", 1), sig, blobsig.ErrBadSignature},
		{"appended line", &key.PublicKey, sums + "ffff  evil.tar.gz\n", sig, blobsig.ErrBadSignature},
		{"other key", &other.PublicKey, sums, sig, blobsig.ErrBadSignature},
		{"corrupt signature", &key.PublicKey, sums, []byte(base64.StdEncoding.EncodeToString(corrupt)), blobsig.ErrBadSignature},
		{"not base64", &key.PublicKey, sums, []byte("not*base64"), errBadBase64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := blobsig.Verify(tc.key, strings.NewReader(tc.blob), tc.sig)
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("Verify = %v, want nil", err)
			case tc.want == errBadBase64 && (err == nil || errors.Is(err, blobsig.ErrBadSignature)):
				t.Errorf("Verify = %v, want a base64 error", err)
			case tc.want == blobsig.ErrBadSignature && !errors.Is(err, blobsig.ErrBadSignature):
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

var errBadBase64 = errors.New("bad base64")

// TestOpenSSL checks the format against another implementation: openssl verifies the
// signature Sign makes (DER ECDSA over SHA-256), and Verify accepts one openssl makes
// with a key openssl generated.
func TestOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl on PATH")
	}
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	write := func(n string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path(n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ossl := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	write("SHA256SUMS", []byte(sums))

	// Ours, checked by openssl.
	key := releasetest.ECKey(t)
	pub, err := blobsig.MarshalPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write("ours.pub", pub)
	sig, err := blobsig.Sign(rand.Reader, key, strings.NewReader(sums))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(string(sig))
	write("ours.der", der)
	if out := ossl("dgst", "-sha256", "-verify", path("ours.pub"), "-signature", path("ours.der"), path("SHA256SUMS")); !strings.Contains(string(out), "Verified OK") {
		t.Errorf("openssl dgst -verify = %q, want Verified OK", out)
	}

	// openssl's key and signature, checked by us.
	ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path("theirs.pem"))
	ossl("ec", "-in", path("theirs.pem"), "-pubout", "-out", path("theirs.pub"))
	ossl("dgst", "-sha256", "-sign", path("theirs.pem"), "-out", path("theirs.der"), path("SHA256SUMS"))
	theirPEM, _ := os.ReadFile(path("theirs.pem"))
	if _, err := blobsig.ParsePrivateKey(theirPEM); err != nil {
		t.Errorf("ParsePrivateKey(openssl ecparam -genkey) = %v", err)
	}
	theirPub, _ := os.ReadFile(path("theirs.pub"))
	pk, err := blobsig.ParsePublicKey(theirPub)
	if err != nil {
		t.Fatal(err)
	}
	theirDER, _ := os.ReadFile(path("theirs.der"))
	if err := blobsig.Verify(pk, strings.NewReader(sums), []byte(base64.StdEncoding.EncodeToString(theirDER))); err != nil {
		t.Errorf("Verify(openssl's signature) = %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	p256 := releasetest.ECKey(t)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	pkcs8, _ := blobsig.MarshalPrivateKey(p256)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"sec1", block("EC PRIVATE KEY", sec1), ""},
		{"pkcs8", pkcs8, ""},
		{"p384", block("PRIVATE KEY", p384DER), "not ECDSA P-256"},
		{"rsa", block("PRIVATE KEY", rsaDER), "not ECDSA P-256"},
		{"cosign encrypted", block("ENCRYPTED SIGSTORE PRIVATE KEY", []byte("{}")), "password-encrypted"},
		{"certificate", block("CERTIFICATE", []byte{1}), `"CERTIFICATE" block`},
		{"no pem", []byte("hello"), "no PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := blobsig.ParsePrivateKey(tc.data)
			if tc.wantErr == "" {
				if err != nil || !k.Equal(p256) {
					t.Errorf("ParsePrivateKey = %v, want the key", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePrivateKey = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}
