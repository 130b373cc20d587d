package api

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracebloc/edge/internal/safetext"
)

// Sentinel errors for the decisions a caller makes. An *APIError matches them with
// errors.Is according to its status and code.
var (
	// Device-flow outcomes of POST /device/token (RFC 8628 section 3.5).
	ErrAuthorizationPending = errors.New("authorization pending")
	ErrSlowDown             = errors.New("slow down")
	ErrExpiredToken         = errors.New("device code expired")
	ErrAccessDenied         = errors.New("access denied")

	ErrUnauthorized      = errors.New("unauthorized")       // 401: the token is invalid or revoked
	ErrForbidden         = errors.New("forbidden")          // 403
	ErrNotFound          = errors.New("not found")          // 404
	ErrConflict          = errors.New("conflict")           // 409, any code
	ErrRateLimited       = errors.New("rate limited")       // 429
	ErrInvalidCredential = errors.New("invalid credential") // 400 from /api-token-auth/

	// ErrMissingExtension: the backend does not have an extension's call (404 or 405 on a
	// path that only the extension has, EXTENSIONS.md), as a backend with only the pinned
	// contract answers.
	ErrMissingExtension = errors.New("the backend does not have this call")

	// ErrRedirect: the backend answered 3xx. No redirect is followed: the request carries
	// credentials, and the contract never redirects.
	ErrRedirect = errors.New("redirect refused")

	// ErrBadPagination: GET /edge-device/ answered a next page that is not followed (a page
	// already read, or more pages than the limit).
	ErrBadPagination = errors.New("unusable pagination of the client list")

	// ErrListTooLarge: GET /edge-device/ answered more clients or more bytes than the
	// client reads (WithMaxListClients, WithMaxListBytes).
	ErrListTooLarge = errors.New("client list too large")
)

// Bounds of the backend text an error keeps: enough for a sentence or an e-mail address,
// too short to carry an echoed request.
const (
	maxDetailBytes = safetext.DefaultExcerpt // "detail"
	maxFieldBytes  = 256                     // names, e-mail addresses, ids, URLs
	maxCodeBytes   = 64                      // the "error" code, a version
)

// APIError is a non-2xx answer of the backend. Every string in it that came from the
// backend was cleaned (no control or format characters), cut to a short excerpt and had
// every secret the client knows replaced by [redacted] before it was stored, so it can
// be shown as it is.
type APIError struct {
	Method     string
	Endpoint   string        // the path, without host or query
	Status     int           // HTTP status
	Code       string        // the "error" field, when present
	Body       ErrorBody     // the decoded error body (zero when it was not JSON)
	RetryAfter time.Duration // from Retry-After on 429 and 503, zero when absent, at most MaxRetryAfter
	Location   string        // scheme and host a 3xx answer pointed to, when it named one
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Endpoint, e.Status)
	if e.Status >= 300 && e.Status <= 399 {
		if e.Location != "" {
			msg += " redirect to " + safetext.Excerpt(e.Location, maxFieldBytes)
		}
		return msg + ": the tracebloc backend never redirects, so none is followed (the request carries credentials): " +
			"set the backend URL to the address that answers itself, e.g. " + BaseURL("prod")
	}
	// Cleaned again here: an APIError built by hand (a test, a fake) prints safely too.
	if e.Code != "" {
		msg += " " + safetext.Excerpt(e.Code, maxCodeBytes)
	}
	if e.Body.Detail != "" {
		msg += ": " + safetext.Excerpt(e.Body.Detail, maxDetailBytes)
	}
	return msg
}

// Is maps the answer to the sentinel errors above.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrAuthorizationPending:
		return e.Code == CodeAuthorizationPending
	case ErrSlowDown:
		return e.Code == CodeSlowDown
	case ErrExpiredToken:
		return e.Code == CodeExpiredToken
	case ErrAccessDenied:
		return e.Code == CodeAccessDenied
	case ErrUnauthorized:
		return e.Status == 401
	case ErrForbidden:
		return e.Status == 403
	case ErrNotFound:
		return e.Status == 404
	case ErrConflict:
		return e.Status == 409
	case ErrRateLimited:
		return e.Status == 429
	case ErrInvalidCredential:
		return e.Status == 400 && e.Endpoint == pathAPITokenAuth
	case ErrRedirect:
		return e.Status >= 300 && e.Status <= 399
	case ErrMissingExtension:
		return (e.Status == 404 || e.Status == 405) && e.Endpoint == pathHeartbeat
	}
	return false
}

// UpgradeRequiredError is the 426 answer: this build is older than the backend accepts.
// It is never retried. MinVersion is cleaned and bounded like APIError's text.
type UpgradeRequiredError struct {
	Endpoint   string
	MinVersion string
}

func (e *UpgradeRequiredError) Error() string {
	if e.MinVersion == "" {
		return fmt.Sprintf("%s: the backend requires a newer tracebloc edge", e.Endpoint)
	}
	return fmt.Sprintf("%s: the backend requires tracebloc edge %s or newer", e.Endpoint, safetext.Excerpt(e.MinVersion, maxCodeBytes))
}

// DecodeError is a 2xx (or error) answer whose body could not be decoded. Err's text may
// quote the body (a JSON or date parser's message), so the client stores it cleaned,
// bounded and redacted like APIError's text.
type DecodeError struct {
	Endpoint string
	Status   int
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode answer of %s (HTTP %d): %v", e.Endpoint, e.Status, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
