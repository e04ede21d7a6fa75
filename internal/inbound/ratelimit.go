package inbound

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

// rateLimiter is a token bucket per API key, counted in events: a batch of
// 100 spends 100 tokens. The bucket holds one second of the rate, so a
// batch larger than that can never pass: it is refused with a detail
// saying to split it.
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRateLimiter(perSecond float64) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{
		limit:   rate.Limit(perSecond),
		burst:   max(int(math.Ceil(perSecond)), 1),
		buckets: map[string]*rate.Limiter{},
	}
}

// allow spends n tokens of key's bucket, or answers the 429 problem with
// the wait after which the same request would pass.
func (r *rateLimiter) allow(key string, n int, now time.Time) *Problem {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	b, ok := r.buckets[key]
	if !ok {
		b = rate.NewLimiter(r.limit, r.burst)
		r.buckets[key] = b
	}
	r.mu.Unlock()
	if n > r.burst {
		p := errRateLimited(n, r, time.Second)
		p.Detail = "this API key's rate allows at most " + strconv.Itoa(r.burst) + " events at once; split the batch"
		return p
	}
	res := b.ReserveN(now, n)
	if !res.OK() {
		return errRateLimited(n, r, time.Second)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return errRateLimited(n, r, d)
	}
	return nil
}

func errRateLimited(n int, r *rateLimiter, wait time.Duration) *Problem {
	p := problem(fiber.StatusTooManyRequests, "rate-limited", "Too many requests",
		"this API key is over its rate of "+strconv.FormatFloat(float64(r.limit), 'f', -1, 64)+" events/s; "+
			strconv.Itoa(n)+" more would exceed it; retry after the Retry-After seconds")
	p.retryAfter = int(math.Ceil(wait.Seconds()))
	return p
}
