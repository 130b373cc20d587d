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
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
)

// Lock is one Lease.
type Lock struct {
	Client    kubernetes.Interface
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
// The Lease is released when work returns.
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
	rl, err := resourcelock.New(resourcelock.LeasesResourceLock, l.Namespace, l.Name,
		l.Client.CoreV1(), l.Client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: l.Identity})
	if err != nil {
		return fmt.Errorf("lease %s/%s: %w", l.Namespace, l.Name, err)
	}
	electCtx, stop := context.WithCancel(ctx)
	defer stop()
	result := make(chan error, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            rl,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   leaseDuration * 2 / 3,
		RetryPeriod:     retry,
		ReleaseOnCancel: true,
		Name:            l.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				l.Log.Info().Str("step", "lock").Str("lease", l.Name).Msg("holding the enrollment lease")
				result <- work(leadCtx)
				stop() // releases the Lease
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				if identity != l.Identity {
					l.Log.Info().Str("step", "lock").Str("holder", identity).Msg("another replica is enrolling; waiting for its credential")
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("lease %s/%s: %w", l.Namespace, l.Name, err)
	}
	finished := make(chan struct{})
	go func() { elector.Run(electCtx); close(finished) }()

	ticker := clk.NewTicker(retry)
	defer ticker.Stop()
	for {
		select {
		case err := <-result:
			<-finished
			return err
		case <-ctx.Done():
			<-finished
			return ctx.Err()
		case <-ticker.C():
			if elector.IsLeader() {
				continue
			}
			ok, err := done(ctx)
			if err != nil {
				l.Log.Warn().Err(err).Str("step", "lock").Msg("could not check for the credential; still waiting")
				continue
			}
			if ok {
				stop()
				<-finished
				select { // work may have started just now
				case err := <-result:
					return err
				default:
				}
				return ErrDoneElsewhere
			}
		}
	}
}
