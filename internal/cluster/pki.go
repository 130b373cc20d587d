package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// writePKI creates the instance's certificate authority, the serving certificates of the
// API server, the kubelet, the registry and the metrics server, the aggregation layer's
// CA and client certificate, and the service-account signing key, under pki/.
func writePKI(p paths, name string) error {
	if err := os.MkdirAll(p.pki(""), 0o700); err != nil {
		return fmt.Errorf("create pki folder: %w", err)
	}
	now := time.Now()
	ca, err := newCert(nil, x509.Certificate{
		Subject:               pkix.Name{CommonName: "tracebloc-edge-" + name + "-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	})
	if err != nil {
		return err
	}
	pairs, err := servingPairs(ca, now)
	if err != nil {
		return err
	}
	pairs["ca"] = ca
	if err := frontProxyPKI(name, now, pairs); err != nil {
		return err
	}
	for file, kp := range pairs {
		if err := writeKeyPair(p, file, kp); err != nil {
			return err
		}
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	if err := writeKey(p.pki("sa.key"), sa); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return fmt.Errorf("encode service-account public key: %w", err)
	}
	return os.WriteFile(p.pki("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// servingPairs makes the serving certificates, signed by ca, of the API server, the
// kubelet, the registry and the metrics server.
func servingPairs(ca keyPair, now time.Time) (map[string]keyPair, error) {
	serving := func(cn string, dns []string) x509.Certificate {
		return x509.Certificate{
			Subject:     pkix.Name{CommonName: cn},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.AddDate(10, 0, 0),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    dns,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		}
	}
	apiTmpl := serving("kube-apiserver", []string{"localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	apiTmpl.IPAddresses = append(apiTmpl.IPAddresses, net.ParseIP(serviceIP))
	api, err := newCert(&ca, apiTmpl)
	if err != nil {
		return nil, err
	}
	kubelet, err := newCert(&ca, serving("localhost", []string{"localhost"}))
	if err != nil {
		return nil, err
	}
	registry, err := newCert(&ca, serving("registry", []string{"localhost"}))
	if err != nil {
		return nil, err
	}
	metrics, err := newCert(&ca, serving("metrics-server", []string{"localhost", metricsServerHost}))
	if err != nil {
		return nil, err
	}
	return map[string]keyPair{"apiserver": api, "kubelet": kubelet, "registry": registry, "metrics-server": metrics}, nil
}

// frontProxyPKI adds the aggregation layer's CA and the client certificate the API
// server proxies to the metrics server with (the metrics server trusts the user headers
// of requests made with it, and of no other).
func frontProxyPKI(name string, now time.Time, pairs map[string]keyPair) error {
	ca, err := newCert(nil, x509.Certificate{
		Subject:               pkix.Name{CommonName: "tracebloc-edge-" + name + "-front-proxy-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return err
	}
	client, err := newCert(&ca, x509.Certificate{
		Subject:     pkix.Name{CommonName: frontProxyClient},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return err
	}
	pairs["front-proxy-ca"], pairs["front-proxy-client"] = ca, client
	return nil
}

func newCert(parent *keyPair, tmpl x509.Certificate) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generate key for %s: %w", tmpl.Subject.CommonName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return keyPair{}, fmt.Errorf("serial for %s: %w", tmpl.Subject.CommonName, err)
	}
	tmpl.SerialNumber = serial
	issuer, signer := &tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, issuer, key.Public(), signer)
	if err != nil {
		return keyPair{}, fmt.Errorf("sign certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parse certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	return keyPair{cert: cert, key: key}, nil
}

func writeKeyPair(p paths, name string, kp keyPair) error {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
	if err := os.WriteFile(p.pki(name+".crt"), certPEM, 0o644); err != nil {
		return fmt.Errorf("write certificate %s: %w", name, err)
	}
	return writeKey(p.pki(name+".key"), kp.key)
}

func writeKey(file string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key %s: %w", filepath.Base(file), err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write key %s: %w", filepath.Base(file), err)
	}
	return nil
}

// randomToken returns 32 random bytes in hex, for the token-auth file.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
