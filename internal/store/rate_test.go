package store_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"relay/internal/store"
	"relay/internal/testenv"
)

// TestTakePermitsBoundsTheFleet takes permits from two pools (two
// replicas) and many goroutines at once: whatever the interleaving, the
// fleet never gets more than the rate over the window plus one burst.
func TestTakePermitsBoundsTheFleet(t *testing.T) {
	t.Parallel()
	a, dbURL := testenv.Store(t)
	ctx := context.Background()
	b, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	const rate, burst = 40.0, 40
	const workers, takes = 12, 40
	var granted, asked, short atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		st := []*store.Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range takes {
				n := 1 + (i+j)%5
				p, err := st.TakePermits(ctx, "twilio", rate, n)
				if err != nil {
					t.Error(err)
					return
				}
				if p.Granted < 0 || p.Granted > n {
					t.Errorf("asked %d, granted %d", n, p.Granted)
				}
				if p.Granted < n {
					short.Add(1)
					if p.Wait <= 0 || p.Wait > time.Second {
						t.Errorf("short of permits with wait %v, want within (0, 1s]", p.Wait)
					}
				} else if p.Wait != 0 {
					t.Errorf("every permit granted, yet wait %v", p.Wait)
				}
				granted.Add(int64(p.Granted))
				asked.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	bound := int64(math.Floor(rate*elapsed.Seconds())) + burst
	t.Logf("granted %d of %d asked over %v (bound %d), %d takes short", granted.Load(), asked.Load(), elapsed, bound, short.Load())
	if granted.Load() > bound {
		t.Fatalf("granted %d permits over %v, more than rate×elapsed + burst = %d", granted.Load(), elapsed, bound)
	}
	if granted.Load() < burst {
		t.Fatalf("granted %d, want at least the first burst (%d): the bucket starts full", granted.Load(), burst)
	}
	if asked.Load() > bound && short.Load() == 0 {
		t.Fatal("more asked than the bound allows, yet no take came up short")
	}
}

func TestTakePermits(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ctx := context.Background()

	// A fresh bucket is full: one second of the rate.
	p, err := st.TakePermits(ctx, "vonage", 10, 25)
	if err != nil {
		t.Fatal(err)
	}
	if p.Granted != 10 || p.Wait <= 0 || p.Wait > 100*time.Millisecond {
		t.Fatalf("first take of 25 at 10/s: %+v, want 10 granted and the next within 100ms", p)
	}

	// Another vendor has a bucket of its own.
	p, err = st.TakePermits(ctx, "plivo", 10, 3)
	if err != nil || p.Granted != 3 || p.Wait != 0 {
		t.Fatalf("plivo beside a spent vonage: %+v, %v; want all 3 at once", p, err)
	}

	// Below one call per second the burst is one call.
	const hourly = 1.0 / 3600
	p, err = st.TakePermits(ctx, "aws", hourly, 3)
	if err != nil || p.Granted != 1 || p.Wait < 59*time.Minute || p.Wait > time.Hour {
		t.Fatalf("first take at 1/h: %+v, %v; want 1 granted and the next in about an hour", p, err)
	}
	p, err = st.TakePermits(ctx, "aws", hourly, 1)
	if err != nil || p.Granted != 0 || p.Wait < 59*time.Minute {
		t.Fatalf("second take at 1/h: %+v, %v; want none, the next in about an hour", p, err)
	}
	// A rate raised since (every replica restarted with it) applies at
	// once: the bucket is empty, refilling at the new rate, rather than
	// booked for the hour the old one had.
	p, err = st.TakePermits(ctx, "aws", 100, 10)
	if err != nil || p.Wait > 10*time.Millisecond {
		t.Fatalf("take at 100/s after 1/h: %+v, %v; want the next permit within 10ms", p, err)
	}

	// Nothing asked, nothing taken, and no row for it.
	if p, err := st.TakePermits(ctx, "telesign", 10, 0); err != nil || p != (store.Permits{}) {
		t.Fatalf("take of 0: %+v, %v", p, err)
	}
	var rows int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM vendor_rate WHERE vendor = 'telesign'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("telesign rows %d (%v), want 0", rows, err)
	}

	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := st.TakePermits(ctx, "telesign", bad, 1); !errors.Is(err, store.ErrInvalidData) {
			t.Errorf("rate %v: err %v, want ErrInvalidData", bad, err)
		}
	}
}
