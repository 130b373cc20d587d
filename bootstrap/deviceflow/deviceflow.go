// Package deviceflow runs the OAuth 2.0 device authorization grant (RFC 8628) against the
// tracebloc backend: request a code, show it, poll until approved, denied or expired.
//
// The wire format is the backend's (internal/api): JSON in, {"token"} out, which is why
// golang.org/x/oauth2 does not fit. The loop follows RFC 8628 sections 3.2 to 3.5: poll
// every interval, add 5 s on slow_down for the rest of the code's life, start over with a
// new code on expired_token or when the code's lifetime passes, stop on access_denied.
// Transient failures (api.Transient: network errors, 5xx, 429) are retried here, with the
// retry package's capped, jittered backoff, never past the code's expiry; an *api.Client
// Backend is used WithoutRetries, so that a 429 is retried by one layer.
//
// What the backend says about time is bounded, so that no value can make the loop spin or
// stall: expires_in is read as 1 minute to 1 hour (15 minutes when absent), interval as 1
// to 60 seconds (5 when absent; slow_down raises it up to 60), a Retry-After as at most
// api.MaxRetryAfter, and a new code is requested at most once a minute, whatever the
// backend answers.
//
// The verification URLs (RFC 8628 section 5.4) must be https on the backend's registrable
// domain (its eTLD+1: tracebloc.io for api.tracebloc.io) or on a host of AllowedHosts
// (TRACEBLOC_VERIFICATION_HOSTS), unless the backend itself is http on loopback (a
// development backend); otherwise the run ends with ErrUntrustedLink. Every string of the
// code that is shown or logged is cleaned by safetext first.
//
// The code lives in memory only: the device code would let anyone who reads it take the
// approving person's token, so it is never stored, and a restart shows a new code. Run
// called again on the same Flow, after its context ended, polls the code it was polling
// while that is still valid (the bootstrap does so when it lost and took back its Lease). The
// device code and the token are never logged; the user code and the verification URL are
// the only codes that are.
package deviceflow

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/publicsuffix"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/retry"
	"github.com/tracebloc/edge/internal/safetext"
)

// Defaults of RFC 8628, bounds of what the backend says, and the loop's own settings.
const (
	DefaultInterval   = 5 * time.Second  // RFC 8628 section 3.2, when the backend sends none
	MinInterval       = time.Second      // a shorter interval is read as this
	MaxInterval       = time.Minute      // a longer one, or one slow_down raised past it, too
	SlowDownStep      = 5 * time.Second  // RFC 8628 section 3.5
	DefaultExpiresIn  = 15 * time.Minute // when the backend sends no expires_in (it must)
	MinExpiresIn      = time.Minute      // a shorter lifetime is read as this; also the least time between two codes
	MaxExpiresIn      = time.Hour        // a longer one is read as this
	DefaultMaxBackoff = 30 * time.Second // cap of the backoff for transient errors
	// firstBackoff is the first wait after a failed POST /device/code.
	firstBackoff = time.Second
	// maxLinkBytes bounds a verification URL: a page address, not a payload.
	maxLinkBytes = 1024
	// maxUserCodeBytes bounds the user code as shown.
	maxUserCodeBytes = 64
)

// ErrDenied is returned when the person refused the code in the browser. It wraps
// api.ErrAccessDenied.
var ErrDenied = fmt.Errorf("the activation code was denied in the browser: approve the new code shown after the pod restarts, signed in with an account that may connect this cluster (%w)", api.ErrAccessDenied)

// errExpired ends the polling of one code: the loop then requests a new one.
var errExpired = errors.New("device code expired")

// ErrUnreachable is returned when the backend failed every poll of a code's whole lifetime:
// a fault that outlasts a code is not a passing one, and the run stops with the last failure
// rather than showing codes nobody can use.
var ErrUnreachable = errors.New("the backend failed every poll for the activation code's whole lifetime")

// ErrUntrustedLink is returned when the backend sent a verification URL that is not https
// on its own domain or an allowed host: it is never shown, since it could send the person
// to a look-alike sign-in page.
var ErrUntrustedLink = errors.New("untrusted activation link")

// Backend is the part of the tracebloc API the device flow calls; *api.Client implements it.
type Backend interface {
	RequestDeviceCode(ctx context.Context, dctx *api.DeviceContext) (*api.DeviceCode, error)
	PollDeviceToken(ctx context.Context, deviceCode string) (*api.Token, error)
	// BaseURL is where the backend is, for the check of the links it sends.
	BaseURL() *url.URL
}

// Pending is the code being shown to a person, with its lifetime and poll interval as the
// flow reads them (bounded). It lives in memory only; Show gets it without the device code.
type Pending struct {
	Code     api.DeviceCode
	IssuedAt time.Time
	Lifetime time.Duration // expires_in, bounded
	Interval time.Duration // current poll interval, bounded, slow_down increments included
}

// ExpiresAt is when the backend stops accepting the code.
func (p Pending) ExpiresAt() time.Time { return p.IssuedAt.Add(p.Lifetime) }

// Flow is one run of the device grant. Only Backend is required.
type Flow struct {
	Backend Backend
	// Context is sent with every code request so that the approval page can say what is
	// being connected; nil sends none.
	Context *api.DeviceContext
	// AllowedHosts are host names a verification URL may point at besides the backend's
	// registrable domain (TRACEBLOC_VERIFICATION_HOSTS), matched exactly, case-insensitively.
	AllowedHosts []string
	Clock        clock.Clock // default the real clock; tests use k8s.io/utils/clock/testing
	// Show is called once for every new code (banner + Event).
	Show       func(ctx context.Context, p Pending)
	MaxBackoff time.Duration  // cap of the jittered backoff for transient errors (default 30s)
	Jitter     func() float64 // [0,1); default math/rand/v2
	Log        zerolog.Logger

	// current is the code being polled, kept in this Flow (memory only) so that a Run
	// that ended with its context (a lost Lease) and is called again polls the same code:
	// the person who already approved it need not approve twice.
	current *Pending
}

// Run returns the user token once a person approved. Errors: ErrDenied (wrapping
// api.ErrAccessDenied) when the person refused; ErrUntrustedLink when the backend sent a
// verification URL that is not shown; ctx errors; an *api.UpgradeRequiredError passes
// through unchanged (never retried); other permanent 4xx pass through wrapped;
// ErrUnreachable when every poll of a code failed for its whole lifetime.
func (f *Flow) Run(ctx context.Context) (token string, err error) {
	if f.Backend == nil {
		return "", errors.New("deviceflow: no backend configured")
	}
	r := runner{Flow: *f}
	r.defaults()
	defer func() { f.current = r.current }()
	if u := r.Backend.BaseURL(); u != nil && u.Scheme == "http" {
		r.Log.Warn().Str("step", "approval").Str("backend", safetext.Clean(u.Redacted())).
			Msg("the backend URL is http://: the sign-in and the machine credential travel unencrypted; use an https:// backend URL outside development")
	}
	for {
		p, err := r.code(ctx)
		if err != nil {
			return "", err
		}
		token, err := r.poll(ctx, p)
		if ctx.Err() == nil {
			r.current = nil // answered or failed for good: never polled again
		}
		switch {
		case err == nil:
			r.Log.Info().Str("step", "approval").Msg("activation approved")
			return token, nil
		case errors.Is(err, errExpired):
			r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).
				Msg("the activation code expired without an answer, requesting a new one")
			// A backend that calls every code expired at once gets a new request no more
			// than once a minute, not a loop of codes, banners and Events.
			if err := r.sleep(ctx, p.IssuedAt.Add(MinExpiresIn).Sub(r.Clock.Now())); err != nil {
				return "", err
			}
		default:
			return "", err
		}
	}
}

// runner is a Flow with its defaults filled in.
type runner struct{ Flow }

func (r *runner) defaults() {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.Jitter == nil {
		r.Jitter = rand.Float64
	}
	// The flow retries a 429 itself, within the code's lifetime: the client must not too.
	if c, ok := r.Backend.(*api.Client); ok {
		r.Backend = c.WithoutRetries()
	}
}

// code returns the code to poll: the one an earlier Run of this Flow left unanswered when
// it is still valid, else a new one.
func (r *runner) code(ctx context.Context) (*Pending, error) {
	if p := r.current; p != nil && r.Clock.Now().Before(p.ExpiresAt()) {
		r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).Time("expires_at", p.ExpiresAt()).
			Msg("still waiting for the activation code shown before; approve it if you have not")
		return p, nil
	}
	p, err := r.newCode(ctx)
	r.current = p
	return p, err
}

// newCode requests a code (retrying transient errors), checks and cleans it, then shows it.
func (r *runner) newCode(ctx context.Context) (*Pending, error) {
	var (
		dc     *api.DeviceCode
		issued time.Time
	)
	policy := retry.Policy{Backoff: r.backoffFrom(firstBackoff), After: api.RetryAfter}
	err := retry.Do(ctx, r.Clock, policy, func() (err error) {
		issued = r.Clock.Now()
		dc, err = r.Backend.RequestDeviceCode(ctx, r.Context)
		return err
	}, api.Transient, func(err error, wait time.Duration) {
		r.warn(err, "", wait, "could not request an activation code, retrying")
	})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		return nil, permanent("request an activation code", err)
	}
	p, err := r.pending(*dc, issued)
	if err != nil {
		return nil, err
	}
	r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).
		Str("verification_uri", p.Code.VerificationURI).Time("expires_at", p.ExpiresAt()).
		Msg("waiting for a person to approve the activation code (kept in memory only: a restart of the pod shows a new code)")
	r.show(ctx, *p)
	return p, nil
}

// pending is the code as the flow uses it: durations bounded, links checked, the strings a
// person sees cleaned.
func (r *runner) pending(dc api.DeviceCode, issued time.Time) (*Pending, error) {
	links := []string{dc.VerificationURI}
	if dc.VerificationURIComplete != "" { // optional (RFC 8628 section 3.2)
		links = append(links, dc.VerificationURIComplete)
	}
	for _, link := range links {
		if err := r.checkLink(link); err != nil {
			return nil, err
		}
	}
	dc.UserCode = safetext.Excerpt(dc.UserCode, maxUserCodeBytes)
	dc.VerificationURI = safetext.Clean(dc.VerificationURI)
	dc.VerificationURIComplete = safetext.Clean(dc.VerificationURIComplete)
	return &Pending{
		Code:     dc,
		IssuedAt: issued,
		Lifetime: seconds(dc.ExpiresIn, DefaultExpiresIn, MinExpiresIn, MaxExpiresIn),
		Interval: seconds(dc.Interval, DefaultInterval, MinInterval, MaxInterval),
	}, nil
}

// seconds reads a count of seconds from the backend: def when absent (or not positive),
// otherwise bounded to [lo, hi], compared before multiplying so that it cannot overflow.
func seconds(n int, def, lo, hi time.Duration) time.Duration {
	switch {
	case n <= 0:
		return def
	case int64(n) >= int64(hi/time.Second):
		return hi
	}
	return max(time.Duration(n)*time.Second, lo)
}

// checkLink accepts a verification URL that is https on the backend's registrable domain or
// on an allowed host. Anything goes when the backend itself is http on loopback: that is a
// development backend on this machine, whose pages are on loopback too.
func (r *runner) checkLink(link string) error {
	backend := r.Backend.BaseURL()
	if backend != nil && backend.Scheme == "http" && loopback(backend.Hostname()) {
		return nil
	}
	shown := safetext.Excerpt(link, 120)
	if len(link) > maxLinkBytes {
		return fmt.Errorf("the backend sent an activation link of %d bytes (%s), longer than %d: it is not shown; check the backend URL: %w",
			len(link), shown, maxLinkBytes, ErrUntrustedLink)
	}
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("the backend sent the activation link %q, which is not an https:// address: it is not shown, since it could lead to a look-alike sign-in page; check the backend URL (a proxy or a private CA in between?): %w",
			shown, ErrUntrustedLink)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if r.allowed(host, backend) {
		return nil
	}
	backendHost := ""
	if backend != nil {
		backendHost = backend.Hostname()
	}
	return fmt.Errorf("the backend (%s) sent an activation link on host %s, which is not on the backend's domain %s: it is not shown, since it could lead to a look-alike sign-in page; "+
		"if %s is your tracebloc sign-in page, add it to TRACEBLOC_VERIFICATION_HOSTS, otherwise check the backend URL (a proxy or a private CA in between?): %w",
		safetext.Excerpt(backendHost, 120), safetext.Excerpt(host, 120), safetext.Excerpt(domain(backendHost), 120), safetext.Excerpt(host, 120), ErrUntrustedLink)
}

// allowed reports whether host is an allowed host, or on the backend's registrable domain.
func (r *runner) allowed(host string, backend *url.URL) bool {
	if slices.ContainsFunc(r.AllowedHosts, func(h string) bool { return strings.EqualFold(strings.TrimSuffix(h, "."), host) }) {
		return true
	}
	if backend == nil {
		return false
	}
	own := strings.TrimSuffix(strings.ToLower(backend.Hostname()), ".")
	if host == own {
		return true
	}
	d := domain(own)
	return d != "" && net.ParseIP(own) == nil && (host == d || strings.HasSuffix(host, "."+d))
}

// domain is host's registrable domain (eTLD+1), or "" for an IP address, a single label
// (localhost) or a public suffix.
func domain(host string) string {
	if host == "" || net.ParseIP(host) != nil {
		return ""
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(strings.ToLower(host), "."))
	if err != nil {
		return ""
	}
	return d
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// poll asks for the token every interval until an answer ends the code's life.
func (r *runner) poll(ctx context.Context, p *Pending) (string, error) {
	wait, failures := p.Interval, 0
	answered := false // any real answer (pending, slow_down) for this code
	var lastErr error
	for {
		if err := r.sleepUntilExpiry(ctx, p, wait); err != nil {
			if errors.Is(err, errExpired) && !answered && lastErr != nil {
				return "", fmt.Errorf("%w (last: %v): check that the backend is reachable from the pod (backend URL, proxy, CA bundle); the pod restarts and tries again", ErrUnreachable, redact(lastErr, p.Code.DeviceCode))
			}
			return "", err
		}
		tok, err := r.Backend.PollDeviceToken(ctx, p.Code.DeviceCode)
		if err == nil {
			return tok.Token, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		switch {
		case errors.Is(err, api.ErrAuthorizationPending):
			r.Log.Debug().Str("step", "approval").Msg("authorization pending")
			wait, failures, answered = p.Interval, 0, true
		case errors.Is(err, api.ErrSlowDown):
			p.Interval = min(p.Interval+SlowDownStep, MaxInterval)
			wait, failures, answered = p.Interval, 0, true
			r.Log.Info().Str("step", "approval").Dur("interval", p.Interval).Msg("the backend asked to poll more slowly")
		case errors.Is(err, api.ErrExpiredToken):
			return "", errExpired
		case errors.Is(err, api.ErrAccessDenied):
			return "", ErrDenied
		case api.Transient(err):
			failures++
			lastErr = err
			wait = max(p.Interval, r.backoff(p.Interval, failures, err))
			r.warn(err, p.Code.DeviceCode, wait, "could not ask whether the code was approved, retrying")
		default:
			return "", permanent("ask whether the activation code was approved", err)
		}
	}
}

// sleepUntilExpiry waits d, or until p expires when that comes first (then errExpired).
func (r *runner) sleepUntilExpiry(ctx context.Context, p *Pending, d time.Duration) error {
	left := p.ExpiresAt().Sub(r.Clock.Now())
	if left <= 0 {
		return errExpired
	}
	if d >= left {
		if err := r.sleep(ctx, left); err != nil {
			return err
		}
		return errExpired
	}
	return r.sleep(ctx, d)
}

func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	return retry.Wait(ctx, r.Clock, d)
}

// backoffFrom is the flow's backoff for transient errors, starting at base.
func (r *runner) backoffFrom(base time.Duration) retry.Backoff {
	return retry.Backoff{Base: base, Cap: r.MaxBackoff, Jitter: r.Jitter}
}

// backoff is the wait after the n-th consecutive failure (n >= 0): base·2^n, capped at
// MaxBackoff, jittered down by up to half; a Retry-After of the answer wins when longer, up
// to api.MaxRetryAfter.
func (r *runner) backoff(base time.Duration, n int, err error) time.Duration {
	return max(r.backoffFrom(base).Next(n), api.RetryAfter(err))
}

// permanent wraps a non-retryable error once, passing an upgrade requirement unchanged.
func permanent(what string, err error) error {
	var upgrade *api.UpgradeRequiredError
	if errors.As(err, &upgrade) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (r *runner) warn(err error, deviceCode string, wait time.Duration, msg string) {
	r.Log.Warn().Str("step", "approval").Str("error", safetext.Clean(redact(err, deviceCode))).Dur("retry_in", wait).Msg(msg)
}

// redact is err's text without the device code, which an error may echo.
func redact(err error, deviceCode string) string {
	text := err.Error()
	if deviceCode != "" {
		text = strings.ReplaceAll(text, deviceCode, api.Redacted)
	}
	return text
}

// show hands the code to Show without the device code, which nothing shown needs.
func (r *runner) show(ctx context.Context, p Pending) {
	if r.Show != nil {
		p.Code.DeviceCode = ""
		r.Show(ctx, p)
	}
}
