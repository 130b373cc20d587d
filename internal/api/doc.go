// Package api is the client of the tracebloc backend: the device authorization grant
// (RFC 8628), userinfo, token revocation, the /edge-device/ clients and api-token-auth,
// in the wire format pinned by ../shared/contract (README.md and its JSON fixtures).
package api
