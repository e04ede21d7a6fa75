package signedapitest

import (
	"sync"
	"time"
)

// SteppingClock returns a clock for Config.Now that reads start and then
// moves step further on every reading, so consecutive requests carry
// distinct timestamps without the test sleeping. It is safe for
// concurrent use.
func SteppingClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(step)
		return now
	}
}
