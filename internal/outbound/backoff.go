package outbound

import (
	"math/rand/v2"
	"time"
)

// Backoff is the retry schedule: exponential growth from Base, capped at
// Max, with full jitter so that events failed together by an outage do not
// come back together and knock the vendor over again; or, when Schedule is
// set (RELAY_RETRY_SCHEDULE), its delays in order.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	// Schedule, when set, gives the delay after each failed attempt;
	// attempts past its end use its last entry, with jitter.
	Schedule []time.Duration
	// Rand returns a value in [0, n); nil uses math/rand/v2.
	Rand func(n int64) int64
}

// Delay is the wait before attempt n+1 after n failed attempts (n >= 1).
// Without a schedule it is uniform in [Base, min(Max, Base * 2^(n-1))].
func (b Backoff) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if len(b.Schedule) > 0 {
		if n <= len(b.Schedule) {
			return b.Schedule[n-1]
		}
		// Past the end: the last delay, less up to a fifth, so that a
		// wave of events does not come back in lockstep.
		last := b.Schedule[len(b.Schedule)-1]
		return last - time.Duration(b.rand(int64(last/5)+1))
	}
	ceiling := b.Max
	if shift := n - 1; shift < 62 {
		if d := b.Base << shift; d > 0 && d < b.Max && d>>shift == b.Base {
			ceiling = d
		}
	}
	span := int64(ceiling - b.Base)
	if span <= 0 {
		return b.Base
	}
	return b.Base + time.Duration(b.rand(span+1))
}

// After is Delay(n), but never sooner than the vendor asked (Retry-After),
// capped at the largest delay the schedule allows.
func (b Backoff) After(n int, retryAfter time.Duration) time.Duration {
	d := b.Delay(n)
	if retryAfter > d {
		d = min(retryAfter, b.Largest())
	}
	return d
}

// Largest is the longest delay the schedule gives.
func (b Backoff) Largest() time.Duration {
	if len(b.Schedule) > 0 {
		return b.Schedule[len(b.Schedule)-1]
	}
	return b.Max
}

func (b Backoff) rand(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if b.Rand != nil {
		return b.Rand(n)
	}
	return rand.Int64N(n)
}
