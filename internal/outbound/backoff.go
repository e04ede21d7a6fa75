package outbound

import (
	"math/rand/v2"
	"time"
)

// Backoff is the retry schedule: exponential growth from Base, capped at
// Max, with full jitter so that events failed together by an outage do not
// come back together and knock the vendor over again.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	// Rand returns a value in [0, n); nil uses math/rand/v2.
	Rand func(n int64) int64
}

// Delay is the wait before attempt n+1 after n failed attempts (n >= 1):
// uniform in [Base, min(Max, Base * 2^(n-1))].
func (b Backoff) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
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
	r := b.Rand
	if r == nil {
		r = rand.Int64N
	}
	return b.Base + time.Duration(r(span+1))
}
