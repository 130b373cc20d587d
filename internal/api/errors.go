package api

import (
	"errors"
	"fmt"
	"time"
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

	// ErrBadPagination: GET /edge-device/ answered a next page that is not followed (another
	// host, a page already read, or more pages than the limit).
	ErrBadPagination = errors.New("unusable pagination of the client list")
)

// APIError is a non-2xx answer of the backend.
type APIError struct {
	Method     string
	Endpoint   string        // the path, without host or query
	Status     int           // HTTP status
	Code       string        // the "error" field, when present
	Body       ErrorBody     // the decoded error body (zero when it was not JSON)
	RetryAfter time.Duration // from Retry-After on 429 and 503, zero when absent
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Endpoint, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Body.Detail != "" {
		msg += ": " + e.Body.Detail
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
	}
	return false
}

// UpgradeRequiredError is the 426 answer: this build is older than the backend accepts.
// It is never retried.
type UpgradeRequiredError struct {
	Endpoint   string
	MinVersion string
}

func (e *UpgradeRequiredError) Error() string {
	if e.MinVersion == "" {
		return fmt.Sprintf("%s: the backend requires a newer tracebloc edge", e.Endpoint)
	}
	return fmt.Sprintf("%s: the backend requires tracebloc edge %s or newer", e.Endpoint, e.MinVersion)
}

// DecodeError is a 2xx (or error) answer whose body could not be decoded.
type DecodeError struct {
	Endpoint string
	Status   int
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode answer of %s (HTTP %d): %v", e.Endpoint, e.Status, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
