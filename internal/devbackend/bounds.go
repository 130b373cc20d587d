package devbackend

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// maxRequests is how many API requests GET /_dev/requests keeps (the newest): a backend
// that runs for days under a load test must not grow without bound.
const maxRequests = 10_000

// maxLimiters caps the per-IP rate limiters, so that requests from many addresses cannot
// grow the map without bound.
const maxLimiters = 4096

// requestLog is a ring of the newest maxRequests records.
type requestLog struct {
	buf   []RequestRecord
	start int // index of the oldest record once the ring is full
	max   int
}

func (l *requestLog) add(r RequestRecord) {
	if len(l.buf) < l.max {
		l.buf = append(l.buf, r)
		return
	}
	l.buf[l.start] = r
	l.start = (l.start + 1) % l.max
}

// list returns the records oldest first.
func (l *requestLog) list() []RequestRecord {
	out := make([]RequestRecord, 0, len(l.buf))
	out = append(out, l.buf[l.start:]...)
	return append(out, l.buf[:l.start]...)
}

func (l *requestLog) clear() { l.buf, l.start = nil, 0 }

// limiter is one client IP's budget and when it was last used.
type limiter struct {
	lim  *rate.Limiter
	used time.Time
}

// limiterFor returns the limiter of host, making room when the map is full. The caller
// holds s.mu.
func (s *Server) limiterFor(host string, now time.Time) *rate.Limiter {
	if l, ok := s.limiters[host]; ok {
		l.used = now
		return l.lim
	}
	if len(s.limiters) >= s.maxLimiters {
		s.evictLimiters(now)
	}
	burst := int(math.Max(1, math.Ceil(s.cfg.Rate)))
	l := &limiter{lim: rate.NewLimiter(rate.Limit(s.cfg.Rate), burst), used: now}
	s.limiters[host] = l
	return l.lim
}

// evictLimiters drops every limiter whose budget is full again: it answers as a new one
// would, so dropping it changes nothing. When every limiter is in use, the least recently
// used one goes, so the map stays bounded even then.
func (s *Server) evictLimiters(now time.Time) {
	var (
		oldest     string
		oldestUsed time.Time
	)
	for host, l := range s.limiters {
		if l.lim.TokensAt(now) >= float64(l.lim.Burst()) {
			delete(s.limiters, host)
			continue
		}
		if oldest == "" || l.used.Before(oldestUsed) {
			oldest, oldestUsed = host, l.used
		}
	}
	if len(s.limiters) >= s.maxLimiters {
		delete(s.limiters, oldest)
	}
}
