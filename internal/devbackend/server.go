package devbackend

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/internal/api"
)

// User is one development user. Admin means the user may write clients (create, patch,
// revoke); the others get 403 on writes.
type User struct {
	Email, Account, FirstName string
	Admin                     bool
}

// Config configures a Server. The zero value is a working in-memory backend.
type Config struct {
	PublicURL      string        // base for verification_uri; empty: derived from the request Host
	DeviceInterval time.Duration // default 5s
	DeviceTTL      time.Duration // default 15m
	MinVersion     string        // 426 below it (semver of the User-Agent version); empty: off
	Rate           float64       // req/s per client IP on /device/code and /device/token; 0: off
	Users          []User        // default: dev@example.com in account "dev" (admin)
	DBPath         string        // SQLite file; empty: in memory
	ResetWindow    time.Duration // how recent a heartbeat makes a client live; default 10m
	PageSize       int           // clients per page of GET /edge-device/; default 10
	Now            func() time.Time
	Logger         zerolog.Logger
	// ContractOnly turns off every extension beyond the pinned contract (listed in
	// internal/api/EXTENSIONS.md): the backend then answers as one that has only the
	// recorded calls would, so tests can show the bootstrap copes with such a backend.
	ContractOnly bool
	// AdminToken is the bearer token the /_dev/ API requires of its loopback callers, so
	// that other local processes (a cluster's host-network pods) cannot approve codes.
	// Empty: New generates one; Server.AdminToken returns it.
	AdminToken string
	// Issued, when set, is called with every secret the backend hands out or receives:
	// each access token it issues (SecretToken), each device code (SecretDeviceCode) and
	// each machine password of a create or patch body (SecretPassword); never a user code,
	// which is shown on purpose. It is for tests that prove secrets never leak (nil in
	// production) and is called from the handlers' goroutines, concurrently.
	Issued func(kind, value string)
}

// Kinds of secret Config.Issued reports.
const (
	SecretToken      = "token"
	SecretDeviceCode = "device code"
	SecretPassword   = "password"
)

// Server is the development backend.
type Server struct {
	cfg      Config
	db       *sql.DB
	handler  http.Handler
	activate *template.Template

	mu          sync.Mutex
	requests    requestLog
	faults      []*fault
	limiters    map[string]*limiter
	maxLimiters int
}

// RequestRecord is one API request served, as GET /_dev/requests lists it.
type RequestRecord struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

type fault struct {
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Count   int    `json:"count"`
	DelayMS int    `json:"delay_ms"`
}

// New opens the database, adds the configured users and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.DeviceInterval <= 0 {
		cfg.DeviceInterval = 5 * time.Second
	}
	if cfg.DeviceTTL <= 0 {
		cfg.DeviceTTL = 15 * time.Minute
	}
	if cfg.ResetWindow <= 0 {
		cfg.ResetWindow = 10 * time.Minute
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Users) == 0 {
		cfg.Users = []User{{Email: "dev@example.com", Account: "dev", FirstName: "Dev", Admin: true}}
	}
	cfg.Users = append([]User(nil), cfg.Users...)
	for i, u := range cfg.Users {
		u.Email = strings.ToLower(u.Email)
		if u.Email == "" || u.Account == "" {
			return nil, fmt.Errorf("user %d: email and account are required", i+1)
		}
		if u.FirstName == "" {
			u.FirstName = u.Email[:strings.IndexByte(u.Email+"@", '@')]
		}
		cfg.Users[i] = u
	}
	if cfg.MinVersion != "" {
		if _, ok := parseVersion(cfg.MinVersion); !ok {
			return nil, fmt.Errorf("minimum version %q is not a semantic version like 0.4.0", cfg.MinVersion)
		}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	switch {
	case cfg.AdminToken == "":
		cfg.AdminToken = randomSecret(32)
	case len(cfg.AdminToken) < minAdminTokenLen:
		return nil, fmt.Errorf("the admin token has %d characters, want at least %d: leave it empty to have one generated", len(cfg.AdminToken), minAdminTokenLen)
	}
	ctx := context.Background()
	db, err := openDB(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	if err := upsertUsers(ctx, db, cfg.Users); err != nil {
		db.Close()
		return nil, fmt.Errorf("store the development users: %w", err)
	}
	s := &Server{cfg: cfg, db: db, activate: parseActivate(),
		requests: requestLog{max: maxRequests}, limiters: map[string]*limiter{}, maxLimiters: maxLimiters}
	s.handler = s.middleware(s.routes())
	s.issued(SecretToken, cfg.AdminToken)
	return s, nil
}

// AdminToken is the bearer token of the /_dev/ API (Config.AdminToken or the generated one).
func (s *Server) AdminToken() string { return s.cfg.AdminToken }

// Handler serves the API, the activation page and the /_dev/ API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the database.
func (s *Server) Close() error { return s.db.Close() }

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("POST /device/code", s.deviceCode)
	m.HandleFunc("POST /device/token", s.deviceToken)
	m.HandleFunc("GET /userinfo/{$}", s.authed(s.userInfo))
	m.HandleFunc("POST /auth/revoke", s.revokeToken)
	m.HandleFunc("POST /api-token-auth/{$}", s.apiTokenAuth)
	m.HandleFunc("GET /edge-device/{$}", s.authed(s.listClients))
	m.HandleFunc("POST /edge-device/{$}", s.authed(s.writer(s.createClient)))
	m.HandleFunc("GET /edge-device/admins/{$}", s.authed(s.admins))
	m.HandleFunc("GET /edge-device/{id}/{$}", s.authed(s.getClient))
	m.HandleFunc("PATCH /edge-device/{id}/{$}", s.authed(s.writer(s.patchClient)))
	m.HandleFunc("POST /edge-device/{id}/revoke/{$}", s.revokeSelf)
	if !s.cfg.ContractOnly {
		// Without the extension the path is the detail route of a client called
		// "heartbeat", which has no POST: 405, as a backend with only the contract answers.
		m.HandleFunc("POST /edge-device/heartbeat/{$}", s.heartbeat)
	}
	m.HandleFunc("GET /activate", s.activatePage)
	m.HandleFunc("POST /activate", s.activateSubmit)
	s.devRoutes(m)
	return m
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	return h.Hijack()
}

// middleware logs every request (method, path, status, duration: never a query, header or
// body), records API requests for /_dev/requests, and applies, in order: the loopback rule
// and the admin token of /_dev/, injected faults, the minimum version, the rate limit, and JSON 404/405.
func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		dev := r.URL.Path == "/_dev" || strings.HasPrefix(r.URL.Path, "/_dev/")
		defer func() {
			s.cfg.Logger.Info().Str("method", r.Method).Str("path", r.URL.Path).
				Int("status", w.status).Dur("duration", time.Since(start)).
				Str("remote", r.RemoteAddr).Msg("request")
			if !dev {
				s.mu.Lock()
				s.requests.add(RequestRecord{Method: r.Method, Path: r.URL.Path, Status: w.status})
				s.mu.Unlock()
			}
		}()
		if dev {
			if !isLoopback(r.RemoteAddr) {
				writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
				return
			}
			if !s.isAdmin(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="_dev"`)
				writeError(w, http.StatusUnauthorized, api.ErrorBody{Detail: "The /_dev/ API needs \"Authorization: Bearer <admin token>\": " +
					"read the token from the file of the backend's --admin-token-file (in a test: Server.AdminToken)."})
				return
			}
			s.dispatch(w, r, mux)
			return
		}
		if s.injectFault(w, r) {
			return
		}
		if r.URL.Path != "/activate" && !s.versionOK(w, r) {
			return
		}
		if (r.URL.Path == "/device/code" || r.URL.Path == "/device/token") && !s.allow(w, r) {
			return
		}
		s.dispatch(w, r, mux)
	})
}

// dispatch serves r, turning the mux's plain-text 404 and 405 into JSON.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	h, pattern := mux.Handler(r)
	if strings.HasSuffix(pattern, "/{$}") && !strings.HasSuffix(r.URL.Path, "/") {
		pattern = "" // the mux would redirect to the path with a slash; the API does not
		h = http.NotFoundHandler()
	}
	if pattern != "" {
		mux.ServeHTTP(w, r) // (not h: only the mux sets the path values)
		return
	}
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, api.ErrorBody{Detail: fmt.Sprintf("Method %q not allowed.", r.Method)})
	default:
		writeError(w, http.StatusNotFound, api.ErrorBody{Detail: "Not found."})
	}
}

// headerProbe captures what the mux's own error handlers would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

// minAdminTokenLen is the shortest Config.AdminToken accepted.
const minAdminTokenLen = 16

// isAdmin reports whether r carries the admin token. The digests are compared, in
// constant time, so that neither the value nor its length shows in the timing.
func (s *Server) isAdmin(r *http.Request) bool {
	tok := bearer(r)
	return tok != "" && subtle.ConstantTimeCompare(digest(tok), digest(s.cfg.AdminToken)) == 1
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// injectFault answers r with the next matching fault of /_dev/faults, if any.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	var f fault
	for i, c := range s.faults {
		if c.Path == r.URL.Path {
			f = *c
			c.Count--
			if c.Count <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()
	if f.Path == "" {
		return false
	}
	if f.DelayMS > 0 {
		t := time.NewTimer(time.Duration(f.DelayMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if f.Status == 0 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return true
		}
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	if f.Status == http.StatusTooManyRequests && !s.cfg.ContractOnly {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, f.Status, api.ErrorBody{Error: "injected_fault", Detail: "Fault injected by /_dev/faults."})
	return true
}

// versionOK answers 426 when the caller's version is below Config.MinVersion.
func (s *Server) versionOK(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.MinVersion == "" {
		return true
	}
	minV, _ := parseVersion(s.cfg.MinVersion)
	if v, ok := userAgentVersion(r.UserAgent()); ok && !v.less(minV) {
		return true
	}
	writeError(w, http.StatusUpgradeRequired, api.ErrorBody{Error: api.CodeUpgradeRequired, MinVersion: s.cfg.MinVersion})
	return false
}

// allow applies the per-IP rate limit of the device endpoints.
func (s *Server) allow(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Rate <= 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	now := s.cfg.Now()
	s.mu.Lock()
	res := s.limiterFor(host, now).ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now)
	}
	s.mu.Unlock()
	if delay <= 0 {
		return true
	}
	if !s.cfg.ContractOnly {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
	}
	writeError(w, http.StatusTooManyRequests, api.ErrorBody{Detail: "Request was throttled."})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, body api.ErrorBody) {
	writeJSON(w, status, body)
}

// internalError answers 500 and logs the cause (which never carries a secret).
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Logger.Error().Err(err).Str("path", r.URL.Path).Msg("internal error")
	writeError(w, http.StatusInternalServerError, api.ErrorBody{Detail: "Internal server error."})
}

// decodeBody reads a JSON object body strictly enough to refuse malformed input.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON parse error: %v", err)
	}
	return nil
}

// randomSecret returns n random bytes, base64url without padding.
func randomSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// issued reports a secret to Config.Issued, when set.
func (s *Server) issued(kind, value string) {
	if s.cfg.Issued != nil {
		s.cfg.Issued(kind, value)
	}
}

// baseURL is the public URL of the backend for r.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// version is a parsed semantic version; pre marks a pre-release (lower than the release).
type version struct {
	nums  [3]int
	pre   string
	isDev bool
}

func (v version) less(o version) bool {
	if v.isDev || o.isDev {
		return !v.isDev && o.isDev
	}
	for i := range v.nums {
		if v.nums[i] != o.nums[i] {
			return v.nums[i] < o.nums[i]
		}
	}
	switch {
	case v.pre == o.pre:
		return false
	case v.pre == "":
		return false
	case o.pre == "":
		return true
	}
	return v.pre < o.pre
}

// parseVersion parses [v]MAJOR.MINOR.PATCH[-pre][+build]; "dev" is the newest version.
func parseVersion(s string) (version, bool) {
	if s == "dev" {
		return version{isDev: true}, true
	}
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var v version
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s, v.pre = s[:i], s[i+1:]
		if v.pre == "" {
			return version{}, false
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return version{}, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return version{}, false
		}
		v.nums[i] = n
	}
	return v, true
}

// userAgentVersion reads <v> of "tracebloc-edge-bootstrap/<v> (<os>/<arch>)".
func userAgentVersion(ua string) (version, bool) {
	product, _, _ := strings.Cut(ua, " ")
	name, v, ok := strings.Cut(product, "/")
	if !ok || name != "tracebloc-edge-bootstrap" {
		return version{}, false
	}
	return parseVersion(v)
}
