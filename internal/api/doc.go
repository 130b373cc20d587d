// Package api is the client of the tracebloc backend: the device authorization grant
// (RFC 8628), userinfo, token revocation, the /edge-device/ clients and api-token-auth,
// in the wire format of the backend's pinned contract; EXTENSIONS.md lists the calls and
// answers beyond it.
//
// Every request carries version.UserAgent() and, on authenticated calls, the Bearer token
// of Client.WithToken. Non-2xx answers are *APIError (matched to the sentinel errors with
// errors.Is), 426 is *UpgradeRequiredError and is never retried, an unusable 2xx body is
// *DecodeError. No redirect is followed, whatever HTTP client is passed: a 3xx is an
// *APIError matching ErrRedirect, since following one would re-send the body (a password,
// a device code) to the host Location names.
//
// A 429 is retried after its Retry-After (seconds or HTTP date), capped by
// WithMaxRetryWait, at most WithMaxRetries times, through an injectable sleep; a caller
// that retries by itself takes WithoutRetries, so that one layer retries. A Retry-After is
// read as at most MaxRetryAfter (10 minutes), and so is APIError.RetryAfter.
//
// The client list follows `next` by its path and query on the configured backend only,
// whatever scheme and host the backend wrote into it, up to DefaultMaxPages pages,
// DefaultMaxListClients clients and DefaultMaxListBytes bytes over all pages (ErrBadPagination,
// ErrListTooLarge). Every answer is read up to MaxBodyBytes.
//
// Backend text kept by an error (detail, the error code, the body fields, a decoder's
// message, a next link) is cleaned by safetext, has every secret the client sent or
// received (the Bearer token, password, device_code and token fields of request bodies,
// issued tokens and device codes; shared by all copies of a Client) replaced by Redacted,
// and is cut to a short excerpt, in that order, before the error is built.
//
// NewHTTPClient builds the transport: proxy from the environment, extra CA bundle, TLS 1.2
// or newer, no redirects.
package api
