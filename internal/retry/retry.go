// Package retry provides the one retry policy of the bootstrap: a capped, jittered
// exponential backoff, waits on an injected clock (k8s.io/utils/clock), and Do, which
// retries what a transport's classifier calls transient (api.Transient for HTTP,
// kube.Transient for the Kubernetes API) for a bounded time.
package retry

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
)

// Backoff is a wait that doubles with every consecutive failure.
type Backoff struct {
	Base time.Duration // the wait after the first failure
	Cap  time.Duration // no wait is longer
	// Jitter, in [0,1), cuts each wait by up to half, so that replicas that failed
	// together do not retry together; nil cuts nothing.
	Jitter func() float64
}

// Next is the wait after the n-th consecutive failure (n >= 0): Base·2^n, at most Cap,
// jittered down by up to half.
func (b Backoff) Next(n int) time.Duration {
	d := b.Cap
	if n >= 0 && n < 62 && b.Base <= b.Cap>>n { // compared before shifting: no overflow
		d = b.Base << n
	}
	if b.Jitter != nil {
		d -= time.Duration(b.Jitter() * float64(d) / 2)
	}
	return d
}

// Wait waits d on clk, or until ctx ends (then ctx's error).
func Wait(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Policy is how Do retries.
type Policy struct {
	Backoff
	// Budget bounds how long the failures may go on, counted from the first; 0 leaves that
	// to the caller's context.
	Budget time.Duration
	// After, when set, is the wait the failed call itself asked for (an HTTP Retry-After):
	// it wins when longer than the backoff.
	After func(err error) time.Duration
}

// ExhaustedError is Do's error when the failures lasted the Policy's Budget.
type ExhaustedError struct {
	Waited time.Duration // from the first failure to the last
	Err    error         // the last failure
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("still failing after %s: %v", e.Waited.Round(time.Second), e.Err)
}

func (e *ExhaustedError) Unwrap() error { return e.Err }

// Do calls op until it succeeds or fails with an error transient does not accept, waiting
// between calls as p says, on clk. It returns op's last error when ctx ends, and an
// *ExhaustedError wrapping it when the failures lasted p.Budget. notify, when set, hears of
// each wait before it starts.
func Do(ctx context.Context, clk clock.Clock, p Policy, op func() error, transient func(error) bool,
	notify func(err error, wait time.Duration)) error {
	var since time.Time
	for n := 0; ; n++ {
		err := op()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		now := clk.Now()
		if n == 0 {
			since = now
		}
		if waited := now.Sub(since); p.Budget > 0 && waited >= p.Budget {
			return &ExhaustedError{Waited: waited, Err: err}
		}
		wait := p.Next(n)
		if p.After != nil {
			wait = max(wait, p.After(err))
		}
		if notify != nil {
			notify(err, wait)
		}
		if Wait(ctx, clk, wait) != nil {
			return err
		}
	}
}
