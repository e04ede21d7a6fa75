// Package metrics defines relay's Prometheus metrics in one place, so that
// names and labels stay consistent between the parts that update them and
// the dashboard that reads them.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector relay exports.
type Metrics struct {
	Registry *prometheus.Registry

	IngestRequests *prometheus.CounterVec   // route, code
	IngestLatency  *prometheus.HistogramVec // route
	IngestEvents   *prometheus.CounterVec   // vendor, result (accepted|duplicate|invalid|unavailable)
	Outcomes       *prometheus.CounterVec   // vendor, outcome
	VendorCalls    *prometheus.HistogramVec // vendor, code
	Retries        *prometheus.CounterVec   // vendor
	VendorPaused   *prometheus.GaugeVec     // vendor
	// VendorPausedKind says why: kind credentials, unavailable (breaker)
	// or unconfigured (no credentials in this process).
	VendorPausedKind *prometheus.GaugeVec // vendor, kind
	// ClaimsBusy counts messages left alone because another batch held
	// their event's claim.
	ClaimsBusy *prometheus.CounterVec // vendor
	// RateDeferred counts calls put off by RELAY_<VENDOR>_RATE: no call,
	// no attempt spent; the message comes back when a permit is due.
	RateDeferred *prometheus.CounterVec // vendor
	// Redriven counts events sent back to the workers from PostgreSQL, by
	// why (reconciler, replay, resume).
	Redriven       *prometheus.CounterVec // reason
	ConsumerLag    prometheus.Gauge
	AckPending     prometheus.Gauge
	BatchSize      prometheus.Histogram
	Replays        *prometheus.CounterVec // dry_run ("true"|"false")
	ReplayedEvents prometheus.Counter

	// Balance monitor and delivery-report poller (internal/monitor).
	VendorBalance    *prometheus.GaugeVec   // vendor, kind
	VendorPollErrors *prometheus.CounterVec // vendor, class (retryable|permanent|account)
	Reports          *prometheus.CounterVec // vendor, status (delivered|failed|expired)

	// Retention janitor (internal/retention).
	RetentionDeleted *prometheus.CounterVec // table (events|attempts|replay_events|messages|outbox)
	RetentionPass    prometheus.Histogram
}

// New registers relay's metrics, with Go and process collectors, on a
// fresh registry (tests make many; the global one would clash).
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		IngestRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_ingest_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		IngestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "relay_ingest_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		IngestEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_ingest_events_total", Help: "Registration events received, by vendor and result.",
		}, []string{"vendor", "result"}),
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_events_total", Help: "Events reaching a state, by vendor and outcome.",
		}, []string{"vendor", "outcome"}),
		VendorCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "relay_vendor_call_duration_seconds", Help: "Vendor call latency by vendor and answer code (or error class).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"vendor", "code"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_retries_scheduled_total", Help: "Vendor calls scheduled for a retry, by vendor.",
		}, []string{"vendor"}),
		VendorPaused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relay_vendor_paused", Help: "1 while a vendor is paused (rejected credentials, breaker tripped, or no credentials configured).",
		}, []string{"vendor"}),
		VendorPausedKind: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relay_vendor_paused_kind", Help: "1 for the reason a vendor is paused: credentials, unavailable (breaker) or unconfigured.",
		}, []string{"vendor", "kind"}),
		ClaimsBusy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_claims_busy_total", Help: "Messages whose event another batch had claimed: left alone, no call made.",
		}, []string{"vendor"}),
		RateDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_vendor_rate_deferred_total", Help: "Vendor calls put off by the vendor's fleet-wide rate (RELAY_<VENDOR>_RATE): no call made, no attempt spent.",
		}, []string{"vendor"}),
		Redriven: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_redriven_events_total", Help: "Events sent back to the workers from PostgreSQL, by reason (reconciler).",
		}, []string{"reason"}),
		ConsumerLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relay_consumer_pending_messages", Help: "Registrations in the stream not yet delivered to a worker.",
		}),
		AckPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relay_consumer_ack_pending_messages", Help: "Registrations delivered and not yet acknowledged (in flight or waiting for a retry).",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "relay_worker_batch_size", Help: "Messages per worker batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		Replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_replays_total", Help: "Replay requests run by operators, dry runs included.",
		}, []string{"dry_run"}),
		ReplayedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_replayed_events_total", Help: "Events re-enqueued by replays.",
		}),
	}
	// Both label values exist from the start, so a dashboard shows 0
	// rather than "no data" before the first replay.
	m.Replays.WithLabelValues("true")
	m.Replays.WithLabelValues("false")
	r.MustRegister(m.IngestRequests, m.IngestLatency, m.IngestEvents, m.Outcomes, m.VendorCalls,
		m.Retries, m.VendorPaused, m.VendorPausedKind, m.ClaimsBusy, m.RateDeferred, m.Redriven, m.ConsumerLag, m.AckPending, m.BatchSize,
		m.Replays, m.ReplayedEvents)
	m.VendorBalance = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "relay_vendor_balance", Help: "Latest balance reading by vendor and kind (not-allocated JPush quotas are absent).",
	}, []string{"vendor", "kind"})
	m.VendorPollErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_vendor_poll_errors_total", Help: "Failed balance and delivery-report calls, by vendor and error class.",
	}, []string{"vendor", "class"})
	m.Reports = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_delivery_reports_total", Help: "Tracked messages reaching a final status, by vendor and status.",
	}, []string{"vendor", "status"})
	r.MustRegister(m.VendorBalance, m.VendorPollErrors, m.Reports)
	m.RetentionDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_retention_deleted_rows_total", Help: "Rows deleted by the retention janitor (RELAY_RETENTION), by table.",
	}, []string{"table"})
	m.RetentionPass = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "relay_retention_pass_duration_seconds", Help: "Duration of a retention janitor pass that held the lease.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60},
	})
	r.MustRegister(m.RetentionDeleted, m.RetentionPass)
	return m
}
