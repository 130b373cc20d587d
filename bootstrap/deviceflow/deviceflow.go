// Package deviceflow runs the OAuth 2.0 device authorization grant (RFC 8628) against the
// tracebloc backend: request a code, show it, poll until approved, denied or expired.
//
// The wire format is the contract's (../shared/contract/README.md, "Device authorization
// grant"): JSON in, {"token"} out, which is why golang.org/x/oauth2 does not fit. The loop
// follows RFC 8628 sections 3.2 to 3.5: poll every interval (5 s when the backend sends
// none), add 5 s on slow_down for the rest of the code's life, start over with a new code
// on expired_token or when the code's lifetime passes, stop on access_denied. Transient
// failures (network errors, 5xx, 429) are retried with capped, jittered exponential
// backoff, never past the code's expiry.
//
// A code shown to a person is kept in a Store, so that a restarted container shows the
// same code again until it expires. The device code and the token are never logged; the
// user code and the verification URL are the only codes that are.
package deviceflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/internal/api"
)

// Defaults of RFC 8628 and of the loop.
const (
	DefaultInterval   = 5 * time.Second  // RFC 8628 section 3.2, when the backend sends none
	SlowDownStep      = 5 * time.Second  // RFC 8628 section 3.5
	DefaultMaxBackoff = 30 * time.Second // cap of the backoff for transient errors
	// defaultExpiresIn is assumed when the backend sends no expires_in (it must, per RFC).
	defaultExpiresIn = 15 * time.Minute
	// firstBackoff is the first wait after a failed POST /device/code.
	firstBackoff = time.Second
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

// Backend is the part of the tracebloc API the device flow calls; *api.Client implements it.
type Backend interface {
	RequestDeviceCode(ctx context.Context, dctx *api.DeviceContext) (*api.DeviceCode, error)
	PollDeviceToken(ctx context.Context, deviceCode string) (*api.Token, error)
}

// Pending is a code that was shown to a person; it survives a container restart through
// the Store so the same user code is shown again until it expires.
type Pending struct {
	Code     api.DeviceCode
	IssuedAt time.Time
	Interval time.Duration // current poll interval, slow_down increments included
}

// ExpiresAt is when the backend stops accepting the code.
func (p Pending) ExpiresAt() time.Time {
	return p.IssuedAt.Add(time.Duration(p.Code.ExpiresIn) * time.Second)
}

// Store keeps the pending code across restarts (the lead implements it over the credential
// Secret's data: never a Lease, an annotation or a log, since it holds the device code).
type Store interface {
	LoadPending(ctx context.Context) (*Pending, error) // nil, nil when none
	SavePending(ctx context.Context, p *Pending) error
	ClearPending(ctx context.Context) error
}

// Flow is one run of the device grant. Only Backend is required.
type Flow struct {
	Backend Backend
	// Context is sent with every code request so that the approval page can say what is
	// being connected; nil sends none.
	Context *api.DeviceContext
	Store   Store       // optional (nil: nothing persisted)
	Clock   clock.Clock // default the real clock; tests use k8s.io/utils/clock/testing
	// Show is called once for every new code shown, and once for a code resumed from the
	// Store (banner + Event).
	Show       func(ctx context.Context, p Pending)
	MaxBackoff time.Duration  // cap of the jittered backoff for transient errors (default 30s)
	Jitter     func() float64 // [0,1); default math/rand/v2
	Log        zerolog.Logger
}

// Run returns the user token once a person approved. Errors: ErrDenied (wrapping
// api.ErrAccessDenied) when the person refused; ctx errors; an *api.UpgradeRequiredError
// passes through unchanged (never retried); other permanent 4xx pass through wrapped;
// ErrUnreachable when every poll of a code failed for its whole lifetime.
func (f *Flow) Run(ctx context.Context) (token string, err error) {
	if f.Backend == nil {
		return "", errors.New("deviceflow: no backend configured")
	}
	r := runner{Flow: *f}
	r.defaults()
	p, err := r.resume(ctx)
	if err != nil {
		return "", err
	}
	for {
		resumed := p != nil
		if !resumed {
			if p, err = r.newCode(ctx); err != nil {
				return "", err
			}
		}
		token, err := r.poll(ctx, p, resumed)
		switch {
		case err == nil:
			r.clear(ctx)
			r.Log.Info().Str("step", "approval").Msg("activation approved")
			return token, nil
		case errors.Is(err, errExpired):
			r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).
				Msg("the activation code expired without an answer, requesting a new one")
			p = nil // the new code's SavePending replaces it in the Store
		case errors.Is(err, ErrDenied):
			r.clear(ctx)
			return "", err
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
}

// resume returns the stored pending code when it is still valid, after showing it again.
func (r *runner) resume(ctx context.Context) (*Pending, error) {
	if r.Store == nil {
		return nil, nil
	}
	p, err := r.Store.LoadPending(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the pending activation code: %w", err)
	}
	if p == nil {
		return nil, nil
	}
	if p.Code.DeviceCode == "" || !r.Clock.Now().Before(p.ExpiresAt()) {
		r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).
			Msg("the stored activation code has expired, requesting a new one")
		r.clear(ctx)
		return nil, nil
	}
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).Time("expires_at", p.ExpiresAt()).
		Msg("showing the stored activation code again")
	r.show(ctx, *p)
	return p, nil
}

// newCode requests a code (retrying transient errors), stores it, then shows it.
func (r *runner) newCode(ctx context.Context) (*Pending, error) {
	for failures := 0; ; failures++ {
		issued := r.Clock.Now()
		dc, err := r.Backend.RequestDeviceCode(ctx, r.Context)
		if err == nil {
			p := &Pending{Code: *dc, IssuedAt: issued, Interval: time.Duration(dc.Interval) * time.Second}
			if p.Interval <= 0 {
				p.Interval = DefaultInterval
			}
			if p.Code.ExpiresIn <= 0 {
				p.Code.ExpiresIn = int(defaultExpiresIn / time.Second)
			}
			if err := r.save(ctx, p); err != nil {
				return nil, err
			}
			r.Log.Info().Str("step", "approval").Str("user_code", p.Code.UserCode).
				Str("verification_uri", p.Code.VerificationURI).Time("expires_at", p.ExpiresAt()).
				Msg("waiting for a person to approve the activation code")
			r.show(ctx, *p)
			return p, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !transient(err) {
			return nil, permanent("request an activation code", err)
		}
		wait := r.backoff(firstBackoff, failures, err)
		r.warn(err, "", wait, "could not request an activation code, retrying")
		if err := r.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// poll asks for the token every interval until an answer ends the code's life. A resumed
// code the backend no longer knows is treated as expired.
func (r *runner) poll(ctx context.Context, p *Pending, resumed bool) (string, error) {
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
		var apiErr *api.APIError
		switch {
		case errors.Is(err, api.ErrAuthorizationPending):
			r.Log.Debug().Str("step", "approval").Msg("authorization pending")
			wait, failures, answered = p.Interval, 0, true
		case errors.Is(err, api.ErrSlowDown):
			p.Interval += SlowDownStep
			wait, failures, answered = p.Interval, 0, true
			r.Log.Info().Str("step", "approval").Dur("interval", p.Interval).Msg("the backend asked to poll more slowly")
			if err := r.save(ctx, p); err != nil {
				return "", err
			}
		case errors.Is(err, api.ErrExpiredToken):
			return "", errExpired
		case errors.Is(err, api.ErrAccessDenied):
			return "", ErrDenied
		case transient(err):
			failures++
			lastErr = err
			wait = max(p.Interval, r.backoff(p.Interval, failures, err))
			r.warn(err, p.Code.DeviceCode, wait, "could not ask whether the code was approved, retrying")
		case resumed && errors.As(err, &apiErr) && (apiErr.Status == http.StatusBadRequest || apiErr.Status == http.StatusNotFound):
			// A stored code from an earlier run that the backend does not know any more
			// (used, or from another backend): start over rather than stop.
			r.Log.Info().Str("step", "approval").Int("status", apiErr.Status).Str("code", apiErr.Code).
				Msg("the backend no longer accepts the stored activation code, requesting a new one")
			return "", errExpired
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
	if d <= 0 {
		return ctx.Err()
	}
	t := r.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// backoff is the wait after the n-th consecutive failure (n >= 0): base·2^n, capped at
// MaxBackoff, jittered down by up to half; a Retry-After of the answer wins when longer.
func (r *runner) backoff(base time.Duration, n int, err error) time.Duration {
	d := r.MaxBackoff
	if n < 20 && base<<n < d {
		d = base << n
	}
	d -= time.Duration(r.Jitter() * float64(d) / 2)
	var apiErr *api.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > d {
		d = apiErr.RetryAfter
	}
	return d
}

// transient reports whether err is worth retrying: network errors, 5xx, 408 and 429. An
// upgrade requirement, a 4xx and a certificate the system does not trust are not.
func transient(err error) bool {
	var (
		upgrade *api.UpgradeRequiredError
		apiErr  *api.APIError
		decode  *api.DecodeError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		timeout *url.Error
	)
	switch {
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

// permanent wraps a non-retryable error once, passing an upgrade requirement unchanged.
func permanent(what string, err error) error {
	var upgrade *api.UpgradeRequiredError
	if errors.As(err, &upgrade) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (r *runner) warn(err error, deviceCode string, wait time.Duration, msg string) {
	r.Log.Warn().Str("step", "approval").Str("error", redact(err, deviceCode)).Dur("retry_in", wait).Msg(msg)
}

// redact is err's text without the device code, which an error may echo.
func redact(err error, deviceCode string) string {
	text := err.Error()
	if deviceCode != "" {
		text = strings.ReplaceAll(text, deviceCode, "[device code]")
	}
	return text
}

func (r *runner) show(ctx context.Context, p Pending) {
	if r.Show != nil {
		r.Show(ctx, p)
	}
}

func (r *runner) save(ctx context.Context, p *Pending) error {
	if r.Store == nil {
		return nil
	}
	if err := r.Store.SavePending(ctx, p); err != nil {
		return fmt.Errorf("keep the activation code in the credential Secret (check the bootstrap's RBAC on Secrets): %w", err)
	}
	return nil
}

// clear drops the stored code. A failure is not fatal: a stale code is expired or used,
// and the next run starts over when the backend refuses it.
func (r *runner) clear(ctx context.Context) {
	if r.Store == nil {
		return
	}
	if err := r.Store.ClearPending(ctx); err != nil {
		r.Log.Warn().Str("step", "approval").Str("error", err.Error()).Msg("could not remove the used activation code from the credential Secret")
	}
}
