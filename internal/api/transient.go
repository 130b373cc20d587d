package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Transient reports whether an error of a backend call is worth trying again: no answer,
// the HTTP client's own timeout, 5xx, 408 and 429. An upgrade requirement, another 4xx, a
// certificate the system does not trust and the end of the caller's context are not.
func Transient(err error) bool {
	var (
		upgrade *UpgradeRequiredError
		apiErr  *APIError
		decode  *DecodeError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		timeout *url.Error
	)
	switch {
	case err == nil:
		return false
	case errors.As(err, &timeout) && timeout.Timeout():
		// The HTTP client's own timeout (it also matches context.DeadlineExceeded); the end
		// of the run's context is checked by the callers before this.
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &upgrade):
		return false
	case errors.As(err, &apiErr):
		return apiErr.Status >= 500 || apiErr.Status == http.StatusTooManyRequests || apiErr.Status == http.StatusRequestTimeout
	case errors.As(err, &decode):
		return decode.Status >= 500 || decode.Status == 0
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid), errors.As(err, &verify):
		return false
	}
	return true
}

// RetryAfter is the wait the backend asked for with an error's answer (Retry-After on a
// 429 or 503), at most MaxRetryAfter; 0 when it asked for none.
func RetryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return min(apiErr.RetryAfter, MaxRetryAfter)
	}
	return 0
}
