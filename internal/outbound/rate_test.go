package outbound

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// countingStore counts the batches' claims and the permits statements a
// worker makes.
type countingStore struct {
	*store.Store
	claims atomic.Int64
	takes  atomic.Int64
	vendor sync.Map // vendor -> true
}

func (c *countingStore) ClaimEvents(ctx context.Context, token uuid.UUID, lease time.Duration, evs []store.NewEvent) ([]store.Claimed, error) {
	c.claims.Add(1)
	return c.Store.ClaimEvents(ctx, token, lease, evs)
}

func (c *countingStore) TakePermits(ctx context.Context, vendor string, rate float64, n int) (store.Permits, error) {
	c.takes.Add(1)
	c.vendor.Store(vendor, true)
	return c.Store.TakePermits(ctx, vendor, rate, n)
}

// TestWorkerRateBoundsTheFleet runs two workers, each with its own pool
// (two replicas), on one vendor limited to a rate: the fake sees no more
// calls than the rate over the run plus one burst, one per event, and
// every event still ends confirmed with one attempt (a call put off
// spends nothing).
func TestWorkerRateBoundsTheFleet(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	ctx := context.Background()
	other, err := store.Open(ctx, bd.st.Pool().Config().ConnString(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)

	const rate, burst, events = 20.0, 20, 70
	var msgs []string
	for i := range events {
		msgs = append(msgs, fmt.Sprintf("rated-%02d", i))
	}
	ids := bd.publish(t, msgs...)

	m := metrics.New()
	cfg := bd.config(func(c *Config) { c.Rate, c.Batch, c.Metrics = rate, 25, m })
	stores := []*countingStore{{Store: bd.st}, {Store: other}}
	start := time.Now()
	for _, st := range stores {
		runWorker(t, NewWorker(cfg, st, bd.bus.JS, bd.consumer))
	}
	for _, msg := range msgs {
		bd.waitState(t, ids[msg], store.StateConfirmed)
	}
	elapsed := time.Since(start)
	calls := len(bd.fake.Calls())
	bound := int(math.Floor(rate*elapsed.Seconds())) + burst
	t.Logf("%d calls over %v (bound %d); %v put off", calls, elapsed, bound, deferred(t, m, "liasmart"))
	if calls > bound {
		t.Fatalf("%d vendor calls over %v, more than rate×elapsed + burst = %d", calls, elapsed, bound)
	}
	for _, msg := range msgs {
		if n := bd.fake.CallsFor(msg); n != 1 {
			t.Errorf("%s: %d calls, want 1", msg, n)
		}
		e, err := bd.st.Event(ctx, ids[msg])
		if err != nil || e.Attempts != 1 || e.BudgetUsed != 1 {
			t.Errorf("%s: %d attempts, budget %d (%v); want 1 each: a call put off spends nothing", msg, e.Attempts, e.BudgetUsed, err)
		}
	}
	if deferred(t, m, "liasmart") == 0 {
		t.Error("relay_vendor_rate_deferred_total stayed 0 with more events than one burst")
	}
	// One statement per batch, never per call: each replica asked no
	// more often than it claimed a batch, and only for its vendor.
	for i, st := range stores {
		if takes, claims := st.takes.Load(), st.claims.Load(); takes > claims {
			t.Errorf("replica %d: %d permit statements for %d batches, want one per batch at most", i, takes, claims)
		}
		st.vendor.Range(func(v, _ any) bool {
			if v != "liasmart" {
				t.Errorf("replica %d took permits for %v", i, v)
			}
			return true
		})
	}
}

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

// TestWorkerRateOffCostsNothing: with Rate 0 the worker never asks
// PostgreSQL for permits.
func TestWorkerRateOffCostsNothing(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	st := &countingStore{Store: bd.st}
	runWorker(t, NewWorker(bd.config(nil), st, bd.bus.JS, bd.consumer))
	ids := bd.publish(t, "free-1", "free-2", "free-3")
	for _, id := range ids {
		bd.waitState(t, id, store.StateConfirmed)
	}
	if n := st.takes.Load(); n != 0 {
		t.Fatalf("%d permit statements with Rate 0, want none", n)
	}
}

// deferred reads relay_vendor_rate_deferred_total{vendor} as exported.
func deferred(t *testing.T, m *metrics.Metrics, vendor string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "relay_vendor_rate_deferred_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "vendor" && l.GetValue() == vendor {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestLimitRateProbeFirst: a paused vendor's probe takes the permit before
// the batch's other calls, and the calls put off come back in turn, one
// interval apart, with nothing to record.
func TestLimitRateProbeFirst(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	st := &countingStore{Store: bd.st}
	const rate = 1.0 / 60 // a burst of one, the next a minute on
	w := NewWorker(bd.config(func(c *Config) { c.Rate = rate }), st, bd.bus.JS, bd.consumer)
	var its []*item
	for i := range 4 {
		it := &item{call: &call{probe: i == 2}}
		it.reg.Vendor = "liasmart"
		its = append(its, it)
	}
	kept := w.limitRate(context.Background(), nil, its)
	if len(kept) != 1 || kept[0] != its[2] {
		t.Fatalf("kept %d calls (probe kept: %v), want the probe alone", len(kept), len(kept) == 1 && kept[0] == its[2])
	}
	if n := st.takes.Load(); n != 1 {
		t.Fatalf("%d permit statements for one batch, want 1", n)
	}
	var last time.Duration
	for i, it := range []*item{its[0], its[1], its[3]} {
		if it.call != nil || it.result != nil || it.ack {
			t.Errorf("call %d put off yet kept its call, a result or an ack", i)
		}
		if it.delay < 58*time.Second+time.Duration(i)*time.Minute || it.delay <= last {
			t.Errorf("call %d put off for %v after %v, want its turn: about %d minute(s)", i, it.delay, last, i+1)
		}
		last = it.delay
	}
	if deferred(t, w.m, "liasmart") != 3 {
		t.Errorf("relay_vendor_rate_deferred_total = %v, want 3", deferred(t, w.m, "liasmart"))
	}
}
