package outbound

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"

	"relay/internal/store"
)

// maxRateDelay bounds how far off a put-off call's message is sent back:
// a long backlog's turns at a tiny rate would overflow a Duration. A
// message back before its turn is put off again.
const maxRateDelay = 24 * time.Hour

// limitRate returns the calls of a batch that Rate lets through now,
// asking PostgreSQL once per vendor of the batch for the whole fleet's
// permits. A call beyond them is not made this time: its event spends
// nothing and records no attempt, its claim is released with the rest,
// and its message comes back when its turn is due, the first when the
// next permit is, each further one an interval later, so that a backlog
// comes back spread at the rate rather than all at once to contend again.
// A probe of a paused vendor takes a permit, first: it is the one call of
// the fleet's probe interval. Off (Rate 0), it asks nothing.
func (w *Worker) limitRate(ctx context.Context, span trace.Span, calls []*item) []*item {
	if w.cfg.Rate <= 0 || len(calls) == 0 {
		return calls
	}
	interval := time.Duration(min(float64(time.Second)/w.cfg.Rate, float64(maxRateDelay)))
	byVendor := map[string][]*item{}
	var vendors []string
	for _, it := range calls {
		v := it.reg.Vendor
		if _, ok := byVendor[v]; !ok {
			vendors = append(vendors, v)
		}
		byVendor[v] = append(byVendor[v], it)
	}
	kept := make([]*item, 0, len(calls))
	for _, vendor := range vendors {
		its := byVendor[vendor]
		slices.SortStableFunc(its, func(a, b *item) int {
			switch {
			case a.call.probe == b.call.probe:
				return 0
			case a.call.probe:
				return -1
			}
			return 1
		})
		p, err := retryStore(ctx, w, func(ctx context.Context) (store.Permits, error) {
			return w.store.TakePermits(inSpanOf(ctx, span), vendor, w.cfg.Rate, len(its))
		})
		if err != nil {
			// Without the fleet's count no call is known to be within
			// the rate; the batch could not be recorded either.
			w.log.Warn("taking rate permits; calls put off", append(w.vendorKey(vendor), "err", err, "calls", len(its))...)
			p = store.Permits{Wait: time.Second}
		}
		granted := min(p.Granted, len(its))
		kept = append(kept, its[:granted]...)
		for i, it := range its[granted:] {
			it.call = nil
			it.delay = min(max(p.Wait+time.Duration(i)*interval, 10*time.Millisecond), maxRateDelay)
		}
		if n := len(its) - granted; n > 0 {
			w.m.RateDeferred.WithLabelValues(vendor).Add(float64(n))
		}
	}
	return kept
}
