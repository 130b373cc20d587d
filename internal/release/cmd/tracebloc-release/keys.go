package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/helmplugin"
)

// localKeyName is the OpenPGP identity of the keys --keys makes.
const localKeyName = "tracebloc edge local release"

// useLocalKeys makes the release sign with the key pairs of dir, generated there the first
// time: cosign.key (ECDSA P-256, PKCS #8 PEM, with cosign.pub) for cosign and secring.gpg
// and pubring.gpg for Helm's provenance. They are for a release to a local registry, where
// the keys of the project are not at hand; the verifying side is given cosign.pub and
// pubring.gpg.
func useLocalKeys(c *config, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--keys: %w", err)
	}
	cosignKey := filepath.Join(dir, "cosign.key")
	if _, err := os.Stat(cosignKey); errors.Is(err, fs.ErrNotExist) {
		if err := writeCosignKey(cosignKey, filepath.Join(dir, "cosign.pub")); err != nil {
			return fmt.Errorf("--keys: generate %s: %w", cosignKey, err)
		}
	}
	secring := filepath.Join(dir, "secring.gpg")
	if _, err := os.Stat(secring); errors.Is(err, fs.ErrNotExist) {
		if err := writePGPKey(secring, filepath.Join(dir, "pubring.gpg")); err != nil {
			return fmt.Errorf("--keys: generate %s: %w", secring, err)
		}
	}
	if c.cosignKey == "" {
		c.cosignKey = cosignKey
	}
	if c.pgpSigning == nil {
		c.pgpSigning = &helmplugin.Signing{Key: localKeyName, Keyring: secring}
	}
	return nil
}

func writeCosignKey(private, public string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	priv, err := blobsig.MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := blobsig.MarshalPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(public, pub, 0o644); err != nil {
		return err
	}
	return writeNew(private, priv)
}

func writePGPKey(secring, pubring string) error {
	e, err := openpgp.NewEntity(localKeyName, "throwaway key of a local release", "", &packet.Config{RSABits: 3072})
	if err != nil {
		return err
	}
	sec, err := os.CreateTemp(filepath.Dir(secring), ".secring-*")
	if err != nil {
		return err
	}
	defer os.Remove(sec.Name())
	if err := e.SerializePrivate(sec, nil); err != nil {
		sec.Close()
		return err
	}
	if err := sec.Close(); err != nil {
		return err
	}
	pub, err := os.Create(pubring)
	if err != nil {
		return err
	}
	if err := e.Serialize(pub); err != nil {
		pub.Close()
		return err
	}
	if err := pub.Close(); err != nil {
		return err
	}
	return os.Rename(sec.Name(), secring)
}

// writeNew writes a private file (0600) so that it appears whole or not at all.
func writeNew(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
