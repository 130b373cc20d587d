// Package lock provides the one-at-a-time rule of the bootstrap: a coordination.k8s.io
// Lease in the release namespace, so that of several replicas starting together exactly one
// runs the device flow and shows a code, and the others wait for its Secret.
//
// It uses client-go's leader election (a well-kept implementation of Lease ownership with
// renewal and expiry): a holder that dies is replaced once its lease expires, and a holder
// that finishes releases the Lease at once.
package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/safetext"
)

// Lock is one Lease.
type Lock struct {
	Client    kube.Interface
	Namespace string
	Name      string // the Lease's name
	Identity  string // this holder (the pod's name)
	// LeaseDuration is how long a dead holder keeps the Lease (default 15s); RetryPeriod is
	// how often a waiter tries to take it and polls Done (default 2s, less for short leases).
	LeaseDuration time.Duration
	RetryPeriod   time.Duration
	Clock         clock.WithTicker
	Log           zerolog.Logger
}

// ErrDoneElsewhere is returned when another holder finished the work while this one waited.
var ErrDoneElsewhere = errors.New("another replica finished the enrollment")

// Run calls work while holding the Lease. While another holder has it, done is polled every
// RetryPeriod; when it reports true, Run returns ErrDoneElsewhere without running work.
// The Lease is released when work returns, and Run returns work's own error even when ctx
// ends at the same moment.
//
// When the Lease is lost while work runs (its renewal failed for RenewDeadline, as when
// the API server restarts), work's context is cancelled, because another replica may take
// the Lease; Run waits for work to return, takes the Lease again (at once when nobody
// else took it) and calls work again. work must therefore be safe to call again after an
// interruption, as the bootstrap's steps are after a crash.
func (l *Lock) Run(ctx context.Context, done func(context.Context) (bool, error), work func(context.Context) error) error {
	leaseDuration, retry := l.LeaseDuration, l.RetryPeriod
	if leaseDuration == 0 {
		leaseDuration = 15 * time.Second
	}
	if retry == 0 {
		retry = min(2*time.Second, leaseDuration/5) // client-go wants renewDeadline > 1.2 retry
	}
	var clk clock.WithTicker = clock.RealClock{}
	if l.Clock != nil {
		clk = l.Clock
	}
	for round := 1; ; round++ {
		r := l.round(ctx, leaseDuration, retry, clk, done, work)
		if !r.lost {
			return r.err
		}
		l.Log.Warn().Str("step", "lock").Str("lease", l.Name).Str("error", r.err.Error()).Int("round", round).
			Dur("renew_deadline", renewDeadline(leaseDuration)).
			Msg("lost the enrollment lease: the Kubernetes API server did not confirm it in time; the enrollment goes on once this replica holds the lease again")
	}
}

func renewDeadline(leaseDuration time.Duration) time.Duration { return leaseDuration * 2 / 3 }

// result is how one call of work ended; lost means its context was cancelled because
// the Lease was lost (not because Run or its caller stopped).
type result struct {
	err  error
	lost bool
}

// round is one election: it returns work's result, ErrDoneElsewhere, or ctx's error;
// lost reports that the Lease was lost while work ran and work should run again.
func (l *Lock) round(ctx context.Context, leaseDuration, retry time.Duration, clk clock.WithTicker,
	done func(context.Context) (bool, error), work func(context.Context) error) result {
	electCtx, stop := context.WithCancel(ctx)
	defer stop()
	e := &election{stop: stop, results: make(chan result, 1), finished: make(chan struct{})}
	if err := l.elect(electCtx, e, leaseDuration, retry, work); err != nil {
		return result{err: fmt.Errorf("lease %s/%s: %w", l.Namespace, l.Name, err)}
	}
	go func() { e.elector.Run(electCtx); close(e.finished) }()
	ticker := clk.NewTicker(retry)
	defer ticker.Stop()
	return l.watch(ctx, e, ticker, done)
}

// election is one round's leader election as the round watches it.
type election struct {
	elector  *leaderelection.LeaderElector
	stop     context.CancelFunc // ends the election, which releases the Lease
	started  atomic.Bool        // work was called
	results  chan result        // work's result, sent once
	finished chan struct{}      // closed when the elector returned
}

// stopAndWait stops the election and, when work started, waits for it: work never
// outlives Run.
func (e *election) stopAndWait() (result, bool) {
	e.stop()
	<-e.finished
	if !e.started.Load() {
		return result{}, false
	}
	return <-e.results, true
}

// elect sets up e's elector on the Lease, which calls work once this replica holds it.
func (l *Lock) elect(electCtx context.Context, e *election, leaseDuration, retry time.Duration, work func(context.Context) error) error {
	rl, err := resourcelock.New(resourcelock.LeasesResourceLock, l.Namespace, l.Name,
		l.Client.CoreV1(), l.Client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: l.Identity})
	if err != nil {
		return err
	}
	e.elector, err = leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            rl,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline(leaseDuration),
		RetryPeriod:     retry,
		ReleaseOnCancel: true,
		Name:            l.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				e.started.Store(true)
				l.Log.Info().Str("step", "lock").Str("lease", l.Name).Msg("holding the enrollment lease")
				err := work(leadCtx)
				// leadCtx ends with electCtx (Run is stopping) or when client-go gives the
				// Lease up after a failed renewal: only the second is a loss.
				e.results <- result{err: err, lost: err != nil && leadCtx.Err() != nil && electCtx.Err() == nil}
				e.stop() // releases the Lease
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				if identity != l.Identity {
					l.Log.Info().Str("step", "lock").Str("holder", safetext.Excerpt(identity, 0)).Msg("another replica is enrolling; waiting for its credential")
				}
			},
		},
	})
	return err
}

// watch waits for the round to end: work returned, the elector ended, ctx ended, or
// (asked at every tick while another holder has the Lease) done reports the credential.
func (l *Lock) watch(ctx context.Context, e *election, ticker clock.Ticker, done func(context.Context) (bool, error)) result {
	for {
		select {
		case r := <-e.results:
			e.stop()
			<-e.finished
			return result{err: r.err, lost: r.lost && ctx.Err() == nil}
		case <-e.finished:
			// The elector ended by itself: ctx ended, or the Lease was lost under work,
			// whose context client-go cancelled; work's result says which.
			if e.started.Load() {
				r := <-e.results
				return result{err: r.err, lost: r.lost && ctx.Err() == nil}
			}
			if err := ctx.Err(); err != nil {
				return result{err: err}
			}
			return result{err: fmt.Errorf("lease %s/%s: the election ended before this replica held the Lease", l.Namespace, l.Name)}
		case <-ctx.Done():
			// work's own result, when it ran, wins over ctx's error.
			if r, ran := e.stopAndWait(); ran {
				return result{err: r.err}
			}
			return result{err: ctx.Err()}
		case <-ticker.C():
			if r, over := l.doneElsewhere(ctx, e, done); over {
				return r
			}
		}
	}
}

// doneElsewhere asks done, while another replica holds the Lease, whether it finished the
// credential; over reports that the round ends with r.
func (l *Lock) doneElsewhere(ctx context.Context, e *election, done func(context.Context) (bool, error)) (r result, over bool) {
	if e.started.Load() || e.elector.IsLeader() {
		return result{}, false
	}
	ok, err := done(ctx)
	if err != nil {
		l.Log.Warn().Err(err).Str("step", "lock").Msg("could not check for the credential; still waiting")
		return result{}, false
	}
	if !ok {
		return result{}, false
	}
	if r, ran := e.stopAndWait(); ran && r.err == nil {
		return result{}, true // work started just now and found the credential
	}
	return result{err: ErrDoneElsewhere}, true
}
