package serve

import (
	"context"
	"sync"
	"time"
)

// smallBody is the largest declared body (Content-Length) that counts as
// small: small requests skip the scoring queue and may use the byte
// budget's reserve, so large bodies cannot starve them.
const smallBody = 64 << 10

// minWeight is what the smallest request weighs in the byte budget (its
// headers, buffers and response).
const minWeight = 1 << 10

// limiter admits requests by count and by bytes of body, without waiting:
// a request that does not fit is refused at once (503). Large requests may
// use only maxBytes-reserve of the byte budget; the reserve is for small
// ones.
type limiter struct {
	mu       sync.Mutex
	n, maxN  int
	used     int64
	maxBytes int64
	reserve  int64
}

func newLimiter(maxN int, maxBytes int64) *limiter {
	return &limiter{maxN: maxN, maxBytes: maxBytes, reserve: maxBytes / 8}
}

// weight is what a request with a declared body length of n bytes (-1:
// unknown) weighs, given the body limit: its length, at least minWeight,
// the body limit when unknown, and never more than large requests may
// hold together (a body limit above the budget is admitted alone).
func (l *limiter) weight(n, limit int64) int64 {
	if n < 0 || n > limit {
		n = limit
	}
	return min(max(n, minWeight), l.maxBytes-l.reserve)
}

// reason says why a request was refused.
type reason string

const (
	refusedCount reason = "requests" // too many requests in flight
	refusedBytes reason = "bytes"    // too many body bytes in flight
	refusedQueue reason = "queue"    // waited too long for a scoring slot
)

// acquire admits a request of weight w, or says why not.
func (l *limiter) acquire(w int64) (ok bool, why reason) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= l.maxN {
		return false, refusedCount
	}
	room := l.maxBytes
	if w > smallBody {
		room -= l.reserve
	}
	if l.used+w > room {
		return false, refusedBytes
	}
	l.n++
	l.used += w
	return true, ""
}

func (l *limiter) release(w int64) {
	l.mu.Lock()
	l.n--
	l.used -= w
	l.mu.Unlock()
}

// inflight is the number of requests and body bytes admitted.
func (l *limiter) inflight() (int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.used
}

// slots bounds how many large requests parse and score at once (about the
// core count): the rest wait their turn, up to a deadline.
type slots chan struct{}

// acquire takes a slot, waiting at most wait or until ctx is done.
func (s slots) acquire(ctx context.Context, wait time.Duration) bool {
	select {
	case s <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (s slots) release() { <-s }
