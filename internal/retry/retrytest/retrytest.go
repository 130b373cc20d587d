// Package retrytest provides a fake clock for tests of code that waits through package
// retry: every wait ends at once, the time moves on by its length, and the waits are kept.
package retrytest

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// Clock is a fake clock on which every timer fires at once, the time moved on by its
// length; Waits lists the lengths asked for, in order.
type Clock struct {
	*clocktesting.FakeClock
	mu    sync.Mutex
	waits []time.Duration
}

// NewClock returns a Clock that starts at start.
func NewClock(start time.Time) *Clock {
	return &Clock{FakeClock: clocktesting.NewFakeClock(start)}
}

// NewTimer records d and steps the clock past it, so the timer has fired when it returns.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.Step(d)
	return t
}

// Waits returns the lengths of the timers asked for so far.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
