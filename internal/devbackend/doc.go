// Package devbackend provides the development backend: a local stand-in for the tracebloc
// API that speaks the wire format of the backend's pinned contract, which internal/api
// implements, and the extensions of internal/api/EXTENSIONS.md, with a browser activation
// page and a test-only API.
// Tests, the fleet load test and `make demo` run against it, so it is strict where the real
// backend is strict.
//
// Storage is SQLite (modernc.org/sqlite, pure Go). The database constraints are the source
// of truth: clients.cluster_id is UNIQUE (NULL allowed many times) and (account, namespace)
// is UNIQUE, so concurrent creates for one cluster yield exactly one client; the losers of
// the race re-read the holder and adopt it (200). Tokens and device codes are stored only as
// SHA-256 digests; machine passwords as bcrypt digests. Nothing secret is logged.
//
// Decisions where the contract leaves room:
//
//   - POST /edge-device/ with a cluster_id held by a client of another account: 409
//     cluster_conflict naming the creator's email. Held by a client of the same account: 200,
//     that client (adopt; the password sent is ignored), except when the holder is live and
//     runs in a different namespace than the one requested: 409 cluster_in_use naming the
//     holder, since a second installation is being attempted on a cluster that already runs
//     one. "Live" is the contract's rule: status 1, or running experiments, or a heartbeat
//     (last_info_update) within Config.ResetWindow (default 10 minutes). A namespace held by
//     another client of the account: 409 namespace_conflict.
//   - POST /edge-device/<id>/revoke/ kills the machine credential (api-token-auth refuses
//     it, its machine tokens stop working), sets status 0 and keeps the record, its
//     cluster_id and namespace; the cluster re-enrolls by adopting it and resetting the
//     password (PATCH {"password"}), which revives the credential. The backend does not
//     itself refuse a reset of a live client: the contract makes that the caller's duty.
//   - POST /edge-device/heartbeat/ (an extension) with a machine token sets its own
//     client's status (1, or 0 when it says so) and last_info_update to now; every other
//     bearer, and the token of a revoked, reset or deleted client, is 401. It is how the
//     edge workloads (in tests their stand-ins, images/standin) make a client live.
//   - Users come from Config.Users (flag `--user email:account[:first_name[:admin|viewer]]`,
//     default role admin). "admin" means "may write clients" (POST, PATCH, revoke) and is
//     what userinfo's is_account_admin and /edge-device/admins/ report; a viewer gets 403 on
//     writes. Default user: dev@example.com, account "dev", admin.
//   - Tokens: the device flow issues user tokens; api-token-auth issues machine tokens,
//     which are refused (401) on the user endpoints. POST /auth/revoke answers 204 for any
//     known token, revoked or not (idempotent), and 401 for an unknown one.
//   - 426 (Config.MinVersion) applies to every API path, not to /activate (browsers send
//     their own User-Agent) nor /_dev/. The version is the one of the product token
//     tracebloc-edge-bootstrap/<v>; an unparsable one is too old; "dev" (a local build)
//     counts as the newest.
//   - 429 (Config.Rate) limits POST /device/code and /device/token per client IP, with a
//     burst of ceil(rate) and Retry-After in whole seconds.
//   - Device codes: slow_down when a poll arrives less than the code's interval after the
//     previous poll; it adds 5 s to that code's interval for good (RFC 8628 section 3.5).
//     The interval is announced in whole seconds (at least 1) but enforced at the exact
//     Config.DeviceInterval, so tests may use a short one. A denied code answers
//     access_denied once and an approved one its token once; then the code is unknown
//     (400 invalid_grant).
//   - GET /edge-device/ pages hold Config.PageSize clients (default 10; the recorded
//     edge_device_list.json shows 15), newest first; next/previous are absolute
//     URLs built from the request's host; a page out of range is 404 {"detail":"Invalid page."}.
//   - POST /device/code may carry the approval context (api.DeviceContext): bounded,
//     printable strings, else 400 naming the field. The activation page shows it with the
//     time and peer address of the request, and warns when the code is older than five
//     minutes. Without a body the page shows the time and address alone.
//   - Config.ContractOnly (flag --contract-only) turns every extension off: the answers
//     are those of a backend with only the pinned contract (a password in PATCH and a
//     taken namespace are 400, a 429 has no Retry-After, a machine token cannot revoke,
//     the body of POST /device/code is ignored). internal/api/EXTENSIONS.md lists them.
//   - The activation page (/activate) has no sign-in: whoever reaches it picks one of the
//     configured development users. That is why the binary refuses a non-loopback listen
//     address unless told otherwise, and the /_dev/ API answers only loopback peers that
//     send its admin token.
//   - Bounds: GET /_dev/requests keeps the newest 10,000 requests; the rate limiters are
//     at most 4096 (a limiter whose budget is full again is dropped, and when all are in
//     use the least recently used one). The binary's server has read, write and idle
//     timeouts; an injected delay is at most 60 s.
//
// Test-only API, loopback peers with the admin token only (404 to other peers, 401 without
// "Authorization: Bearer <Config.AdminToken>", which New generates when empty and the
// binary writes to --admin-token-file), because every local process, a cluster's
// host-network pods included, is a loopback peer: POST /_dev/approve {"user_code",
// "email"}, POST /_dev/deny {"user_code"}, GET /_dev/pending, GET /_dev/clients, GET
// /_dev/tokens, POST /_dev/clients/<id>/heartbeat {"status","num_running_experiments"},
// DELETE /_dev/clients/<id> (the dashboard's delete: the record and its machine tokens),
// POST /_dev/faults {"path","status","count","delay_ms"} (status 0 drops the connection; a
// 429 carries Retry-After: 1; the delay is real time, for client timeouts), DELETE
// /_dev/faults, GET and DELETE /_dev/requests (method, path, status of the API requests
// served; /_dev/ requests are not recorded).
package devbackend
