// Package blobsig provides the blob signatures of cosign's key-pair mode, made with the
// standard library: `cosign sign-blob --key` writes the base64 of an ASN.1 DER ECDSA
// P-256 signature over the SHA-256 of the file, and
//
//	cosign verify-blob --key cosign.pub --signature SHA256SUMS.sig --insecure-ignore-tlog=true SHA256SUMS
//
// checks it against the public key as a PEM "PUBLIC KEY" block (PKIX). The private key
// is read from PEM: "EC PRIVATE KEY" (SEC1, as openssl ecparam -genkey writes it) or
// "PRIVATE KEY" (PKCS #8); cosign's own password-encrypted cosign.key is not read.
package blobsig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrBadSignature means the signature does not match the file and the key: the file
// was changed after signing, or it was signed with another key.
var ErrBadSignature = errors.New("the signature does not match the file and the public key")

// Sign returns the base64 signature of the blob, as cosign sign-blob writes it
// (--output-signature: no trailing newline).
func Sign(rand io.Reader, key *ecdsa.PrivateKey, blob io.Reader) ([]byte, error) {
	digest, err := sha256Of(blob)
	if err != nil {
		return nil, err
	}
	der, err := ecdsa.SignASN1(rand, key, digest)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(der)), nil
}

// Verify checks a base64 signature (surrounding white space allowed, as cosign allows)
// of the blob against the public key; ErrBadSignature when they do not match.
func Verify(key *ecdsa.PublicKey, blob io.Reader, sig []byte) error {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil {
		return fmt.Errorf("the signature is not base64 (%w): pass the file cosign sign-blob wrote", err)
	}
	digest, err := sha256Of(blob)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(key, digest, der) {
		return ErrBadSignature
	}
	return nil
}

func sha256Of(blob io.Reader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, blob); err != nil {
		return nil, fmt.Errorf("read the file to sign: %w", err)
	}
	return h.Sum(nil), nil
}

// ParsePrivateKey reads an ECDSA P-256 private key from PEM.
func ParsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, err := onePEM(data)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		return nil, errors.New("the key is cosign's password-encrypted format: export it unencrypted as PEM (openssl ec or a PKCS #8 \"PRIVATE KEY\") for the release signer")
	default:
		return nil, fmt.Errorf("the key file holds a PEM %q block: want \"EC PRIVATE KEY\" or \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse the private key: %w", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("the private key is not ECDSA P-256, the key type of cosign's key pairs: generate one with openssl ecparam -name prime256v1 -genkey")
	}
	return ec, nil
}

// ParsePublicKey reads an ECDSA P-256 public key from a PEM "PUBLIC KEY" block, the form
// of cosign.pub.
func ParsePublicKey(data []byte) (*ecdsa.PublicKey, error) {
	block, err := onePEM(data)
	if err != nil {
		return nil, err
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("the public key file holds a PEM %q block: want \"PUBLIC KEY\" (cosign.pub)", block.Type)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse the public key: %w", err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("the public key is not ECDSA P-256")
	}
	return ec, nil
}

func onePEM(data []byte) (*pem.Block, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("the key file holds no PEM block")
	}
	return block, nil
}

// MarshalPrivateKey is the PKCS #8 PEM form of a private key.
func MarshalPrivateKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey is the PEM "PUBLIC KEY" form cosign verify-blob --key reads.
func MarshalPublicKey(key *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
