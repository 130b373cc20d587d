package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		n    int
		want time.Duration
	}{
		{"first", Backoff{Base: time.Second, Cap: 30 * time.Second}, 0, time.Second},
		{"doubles", Backoff{Base: time.Second, Cap: 30 * time.Second}, 3, 8 * time.Second},
		{"capped", Backoff{Base: time.Second, Cap: 30 * time.Second}, 5, 30 * time.Second},
		{"exactly the cap", Backoff{Base: 250 * time.Millisecond, Cap: 4 * time.Second}, 4, 4 * time.Second},
		{"no overflow", Backoff{Base: time.Second, Cap: 30 * time.Second}, 200, 30 * time.Second},
		{"base above the cap", Backoff{Base: time.Minute, Cap: 30 * time.Second}, 0, 30 * time.Second},
		{"jitter cuts up to half", Backoff{Base: 4 * time.Second, Cap: time.Minute, Jitter: func() float64 { return 0.5 }}, 1, 6 * time.Second},
		{"no jitter", Backoff{Base: 4 * time.Second, Cap: time.Minute, Jitter: func() float64 { return 0 }}, 1, 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Next(tt.n); got != tt.want {
				t.Errorf("%+v.Next(%d) = %v, want %v", tt.b, tt.n, got, tt.want)
			}
		})
	}
}

// stepper is a fake clock on which every wait ends at once, the time moved on by its length.
type stepper struct {
	*clocktesting.FakeClock
	waits []time.Duration
}

func (c *stepper) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.waits = append(c.waits, d)
	c.Step(d)
	return t
}

var errFlaky = errors.New("flaky")

func TestDo(t *testing.T) {
	transient := func(err error) bool { return errors.Is(err, errFlaky) }
	errFinal := errors.New("final")
	tests := []struct {
		name      string
		p         Policy
		errs      []error // op's answers, then nil
		wantCalls int
		wantWaits []time.Duration
		wantErr   error
		exhausted bool
	}{
		{"success at once", Policy{Backoff: Backoff{Base: time.Second, Cap: 4 * time.Second}}, nil, 1, nil, nil, false},
		{"backs off until success", Policy{Backoff: Backoff{Base: time.Second, Cap: 4 * time.Second}},
			[]error{errFlaky, errFlaky, errFlaky, errFlaky}, 5, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}, nil, false},
		{"a permanent error ends it", Policy{Backoff: Backoff{Base: time.Second, Cap: 4 * time.Second}},
			[]error{errFlaky, errFinal}, 2, []time.Duration{time.Second}, errFinal, false},
		{"budget", Policy{Backoff: Backoff{Base: time.Second, Cap: 4 * time.Second}, Budget: 3 * time.Second},
			[]error{errFlaky, errFlaky, errFlaky, errFlaky}, 3, []time.Duration{time.Second, 2 * time.Second}, errFlaky, true},
		{"the call's own wait wins when longer", Policy{Backoff: Backoff{Base: time.Second, Cap: 4 * time.Second},
			After: func(error) time.Duration { return 3 * time.Second }},
			[]error{errFlaky, errFlaky, errFlaky}, 4, []time.Duration{3 * time.Second, 3 * time.Second, 4 * time.Second}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &stepper{FakeClock: clocktesting.NewFakeClock(time.Unix(0, 0))}
			calls := 0
			var notified []time.Duration
			err := Do(context.Background(), clk, tt.p, func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			}, transient, func(_ error, d time.Duration) { notified = append(notified, d) })
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Do() = %v, want %v", err, tt.wantErr)
			}
			var ex *ExhaustedError
			if errors.As(err, &ex) != tt.exhausted {
				t.Errorf("Do() = %v, exhausted %v, want %v", err, !tt.exhausted, tt.exhausted)
			}
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantWaits, clk.waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWaits, notified); diff != "" {
				t.Errorf("notified waits (-want +got):\n%s", diff)
			}
		})
	}
}

// The end of ctx during a wait ends Do with op's last error.
func TestDoContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	err := Do(ctx, clk, Policy{Backoff: Backoff{Base: time.Hour, Cap: time.Hour}}, func() error { return errFlaky },
		func(error) bool { return true }, func(error, time.Duration) { cancel() })
	if !errors.Is(err, errFlaky) {
		t.Errorf("Do() = %v, want the last failure", err)
	}
}

func TestWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	if err := Wait(ctx, clk, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(canceled, 1h) = %v, want context.Canceled", err)
	}
	if err := Wait(context.Background(), clk, 0); err != nil {
		t.Errorf("Wait(0) = %v, want nil", err)
	}
	s := &stepper{FakeClock: clk}
	if err := Wait(context.Background(), s, time.Minute); err != nil || !clk.Now().Equal(time.Unix(60, 0)) {
		t.Errorf("Wait(1m) = %v at %v, want nil at a minute past", err, clk.Now())
	}
}
