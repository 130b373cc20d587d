package lock_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tracebloc/edge/bootstrap/lock"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/syncbuf"
)

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cut is a switch between a client and the real API server: while it is on, every
// request fails as if the API server were gone.
type cut struct{ on atomic.Bool }

func (c *cut) client(t *testing.T, base *rest.Config) kubernetes.Interface {
	t.Helper()
	rc := rest.CopyConfig(base)
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if c.on.Load() {
				return nil, syscall.ECONNREFUSED
			}
			return rt.RoundTrip(r)
		})
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func newLock(t *testing.T, client kubernetes.Interface, ns string, log *syncbuf.Buffer) *lock.Lock {
	t.Helper()
	return &lock.Lock{
		Client: client, Namespace: ns, Name: "edge-credentials-lock", Identity: "edge-0",
		LeaseDuration: 3 * time.Second, RetryPeriod: 500 * time.Millisecond,
		Log: zerolog.New(log),
	}
}

func never(context.Context) (bool, error) { return false, nil }

// When the Lease is lost under work (its renewal fails past the renew deadline), work's
// context ends; Run takes the Lease again and calls work again.
func TestLostLeaseRunsWorkAgain(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	var sw cut
	var log syncbuf.Buffer
	l := newLock(t, sw.client(t, c.REST), ns, &log)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var calls atomic.Int32
	err := l.Run(ctx, never, func(ctx context.Context) error {
		if calls.Add(1) > 1 {
			return nil
		}
		sw.on.Store(true) // the API server "goes away" while work runs
		<-ctx.Done()      // until client-go gives the Lease up
		sw.on.Store(false)
		return ctx.Err()
	})
	if err != nil {
		t.Fatalf("Run() = %v, want nil after the second call of work\n%s", err, log.String())
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("work was called %d times, want 2", n)
	}
	if !strings.Contains(log.String(), "lost the enrollment lease") {
		t.Errorf("the log does not say the Lease was lost:\n%s", log.String())
	}
}

// work's own error wins over the end of ctx, even when work ends ctx itself and returns
// a moment later.
func TestWorkErrorWinsOverCancel(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	var log syncbuf.Buffer
	l := newLock(t, c.Client, ns, &log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	own := errors.New("the activation was denied")
	err := l.Run(ctx, never, func(context.Context) error {
		cancel()
		time.Sleep(200 * time.Millisecond)
		return own
	})
	if !errors.Is(err, own) {
		t.Fatalf("Run() = %v, want work's own error %v", err, own)
	}
}

// A cancelled Run whose work never started returns ctx's error.
func TestCancelWhileWaiting(t *testing.T) {
	c := clustertest.Get(t)
	ns := clustertest.Namespace(t, c)
	var log syncbuf.Buffer
	holder := newLock(t, c.Client, ns, &log)
	waiter := newLock(t, c.Client, ns, &log)
	waiter.Identity = "edge-1"
	hold, release := context.WithCancel(context.Background())
	defer release()
	held := make(chan struct{})
	go func() {
		_ = holder.Run(hold, never, func(ctx context.Context) error { close(held); <-ctx.Done(); return ctx.Err() })
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := waiter.Run(ctx, never, func(context.Context) error {
		t.Error("work ran while another replica held the Lease")
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run() = %v, want %v", err, context.DeadlineExceeded)
	}
}
