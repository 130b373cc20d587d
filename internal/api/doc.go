// Package api is the client of the tracebloc backend: the device authorization grant
// (RFC 8628), userinfo, token revocation, the /edge-device/ clients and api-token-auth,
// in the wire format pinned by ../shared/contract (README.md and its JSON fixtures).
//
// Every request carries version.UserAgent() and, on authenticated calls, the Bearer token
// of Client.WithToken. Non-2xx answers are *APIError (matched to the sentinel errors with
// errors.Is), 426 is *UpgradeRequiredError and is never retried, an unusable 2xx body is
// *DecodeError. A 429 is retried after its Retry-After (seconds or HTTP date), capped by
// WithMaxRetryWait, at most WithMaxRetries times, through an injectable sleep. The client
// list follows `next` on the backend's own scheme and host only. NewHTTPClient builds the
// transport: proxy from the environment, extra CA bundle, TLS 1.2 or newer.
package api
