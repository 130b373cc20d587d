package api

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// NewHTTPClient returns the HTTP client for the backend: the proxy from HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY (http.ProxyFromEnvironment), the system roots plus the PEM CA
// bundle in caFile when it is not empty (a corporate TLS-inspecting proxy or a private
// backend), TLS 1.2 or newer with verification always on, no redirect followed (a 3xx is
// returned as it is), and timeout for a whole exchange (DefaultTimeout when zero).
func NewHTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := certPool(caFile)
		if err != nil {
			return nil, err
		}
		tlsConfig.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          10,
	}
	return &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: refuseRedirect}, nil
}

// certPool is the system roots plus the certificates of the PEM bundle caFile.
func certPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle %s: %w (mount the bundle there or unset the CA file setting)", caFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system roots (e.g. a scratch image): the bundle alone
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate (want -----BEGIN CERTIFICATE----- blocks)", caFile)
	}
	return pool, nil
}
