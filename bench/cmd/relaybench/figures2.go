package main

import (
	"fmt"
	"time"

	"relay/bench/internal/stats"
)

// figuresRound2 adds the figures of issue 14's table, each with its
// same-run baseline: the ratios the targets are stated as, the naive
// worker, the cold database and the default process's capacity.
func (h *harness) figuresRound2() {
	r := h.report
	if s, a := h.res.relaySingle, h.res.naiveAsync; s != nil && a != nil {
		r.add("ingest_single_vs_naive_async", "relay ingest, single events (64 clients)", s.Rate, "req/s", a.Rate, "naive async handler",
			"≥ 0.9 × naive async", ratioAtLeast(0.9))
		relay := h.runCPUWithPG("relay_ingest_single", s.Total)
		naive := h.runCPUWithPG("naive_async_publish_single", a.Total)
		r.add("cpu_ingest_single_with_pg", "CPU per 1,000 single events: relay + PostgreSQL (ingest)", relay, "CPU s", naive,
			"naive async handler", "≤ 1.2 × naive", ratioAtMost(1.2))
	}
	if b, p := h.res.relayBatch, h.res.rawPub; b != nil && p != nil {
		r.add("ingest_batch_vs_raw", fmt.Sprintf("relay ingest, batches of %d (%d clients)", h.batchSize, h.batchClients), b.Rate*float64(h.batchSize),
			"events/s", p.Rate, "raw async publish", "≥ 0.75 × raw publish", ratioAtLeast(0.75))
	}
	if o, b := h.res.relayOpen, h.res.bareOpen; o != nil && b != nil {
		r.add("ingest_p99_half_load_vs_bare", fmt.Sprintf("relay ingest p99 at 50 %% of max (%.0f req/s, open loop)", o.Offered),
			stats.Ms(o.Latency.P99), "ms", stats.Ms(b.Latency.P99), "bare Fiber same rate", "≤ 2 × bare Fiber", ratioAtMost(2))
	}
	if o, n := h.res.relayOpen, h.res.naiveAsyncOpen; o != nil && n != nil {
		r.add("ingest_p99_half_load_vs_naive_async", fmt.Sprintf("reference: relay ingest p99 at 50 %% of max (%.0f req/s, open loop)", o.Offered),
			stats.Ms(o.Latency.P99), "ms", stats.Ms(n.Latency.P99), "naive async handler same rate", "", nil)
	}
	if n := h.naiveWorkerRes; n != nil {
		r.add("naive_worker_confirmations", fmt.Sprintf("baseline: naive worker, %d-event backlog drained (batch %d, %d calls in flight, vendor %s)",
			n.Events, n.Batch, n.Concurrency, h.vendorLatency), n.Rate, "conf/s", 0, "", "", nil)
		if d := h.res.e2e; d != nil {
			r.add("e2e_vs_naive_worker", fmt.Sprintf("end to end: %d-event backlog drained", d.Events), d.Rate, "conf/s", n.Rate, "naive worker",
				"≥ 0.8 × naive worker", ratioAtLeast(0.8))
			r.add("cpu_e2e_vs_naive_worker", "CPU per 1,000 confirmations drained: relay + PostgreSQL",
				cpuPer1k(d.RelayCPU+d.PostgresCPU, d.Confirmed), "CPU s", cpuPer1k(n.WorkerCPU+n.PostgresCPU, n.Confirmed),
				"naive worker + PostgreSQL", "", nil)
		}
	}
	if c, a := h.coldRes["cold"], h.coldRes["analyzed"]; c != nil && a != nil {
		label := fmt.Sprintf("cold database: ingest at %.0f/s right after a %d-event burst into a fresh deployment", h.coldRate, h.coldBurst)
		r.add("cold_ingest_p50", label+", p50", stats.Ms(c.Steady.Latency.P50), "ms", stats.Ms(a.Steady.Latency.P50),
			"same after ANALYZE", "≤ 1.5 × after ANALYZE", ratioAtMost(1.5))
		r.add("cold_ingest_p99", label+", p99", stats.Ms(c.Steady.Latency.P99), "ms", stats.Ms(a.Steady.Latency.P99),
			"same after ANALYZE", "≤ 2 × after ANALYZE", ratioAtMost(2))
		r.add("cold_seq_scans", fmt.Sprintf("cold database: sequential scans of events during those %s", h.coldWindow), float64(c.SeqScans), "scans",
			float64(a.SeqScans), "same after ANALYZE", "", nil)
	}
	if c := h.capRes; c != nil {
		if b := c.Best; b != nil {
			r.add("capacity_rate", fmt.Sprintf("default process (RELAY_ROLE=all, embedded NATS): highest steady rate with ingest p99 ≤ %s and every event confirmed", h.capP99),
				b.Rate, "events/s", 0, "", "", nil)
			r.add("capacity_cpu", fmt.Sprintf("default process at %.0f/s: CPU per 1,000 events, relay + PostgreSQL (ingest + worker)", b.Rate),
				b.RelayCPU+b.PostgresCPU, "CPU s", 0, "", "", nil)
		} else {
			h.note("Default process capacity: not even the first step (%.0f/s) held: %s.", h.capStart, c.Steps[0].Why)
		}
		if c.RelayHWM > 0 && c.NaiveHWM > 0 {
			r.add("relay_rss_steady", fmt.Sprintf("relay peak RSS, embedded NATS, at steady %.0f/s (ingest + worker), after %s (duplicate window nearly empty)",
				c.FirstRate, h.capWindow+2*time.Second), float64(c.RelayHWM)/mib, "MiB",
				float64(c.NaiveHWM)/mib, "naive handler + embedded NATS, same rate", "≤ 2 × naive and ≤ 150 MiB",
				func(v, ratio float64) bool { return v <= 150 && ratio <= 2 })
		}
		if per := h.res.windowRSSPerEvent; c.RelayHWM > 0 && per > 0 {
			r.add("window_rss_per_event", fmt.Sprintf("relay RSS per event inside the duplicate window (ingest, %d events)", h.res.windowEvents),
				per, "B", 0, "", "", nil)
			// A steady rate fills the window with rate × window ids; the
			// run above held a few seconds' worth.
			for _, w := range []time.Duration{10 * time.Minute, 2 * time.Minute} {
				full := float64(c.RelayHWM) + c.FirstRate*w.Seconds()*per
				r.add(fmt.Sprintf("relay_rss_steady_window_%s", w), fmt.Sprintf("relay RSS at steady %.0f/s once RELAY_DEDUP_WINDOW=%s is full (projected: the peak above + %.0f ids × the RSS per event)",
					c.FirstRate, w, c.FirstRate*w.Seconds()), full/mib, "MiB", 0, "", "≤ 150 MiB", func(v, _ float64) bool { return v <= 150 })
			}
		}
	}
}

// runCPUWithPG is the server's and PostgreSQL's CPU per 1,000 requests of
// an HTTP run (warmup included, like total).
func (h *harness) runCPUWithPG(name string, total int64) float64 {
	rn, ok := h.report.Runs[name].(run)
	if !ok || total == 0 {
		return 0
	}
	secs := (h.warmup + h.window).Seconds() * (rn.CPU.Server + rn.CPU.Postgres)
	return cpuPer1k(time.Duration(secs*float64(time.Second)), total)
}

func ratioAtMost(x float64) func(v, ratio float64) bool {
	return func(_, r float64) bool { return r == r && r <= x }
}

// notesRound2 describes the naive worker, the cold and the capacity phases.
func (h *harness) notesRound2() {
	if n := h.naiveWorkerRes; n != nil {
		h.note("Naive worker (bench/internal/baseline/worker.go, its own process with embedded NATS): pull %d messages, one INSERT … unnest, CTrack calls (relay's client, up to %d in flight), one UPDATE … unnest, ack; no retries, attempts, outbox or published confirmations. %d events published straight into its JetStream, drained in %s (wall %s); confirmations/s computed as for relay.",
			n.Batch, n.Concurrency, n.Events, n.Span.Round(time.Millisecond), n.Wall.Round(time.Millisecond))
	}
	if c, a := h.coldRes["cold"], h.coldRes["analyzed"]; c != nil && a != nil {
		h.note("Cold database: relay (RELAY_ROLE=all, embedded NATS, fake CTrack) on a database it creates and migrates at start; %d single events from %d clients, then %.0f/s open loop for %s (after %s warmup). Run 1 goes straight on (events reltuples %.0f when the window began; %d seq / %d index scans of events in it); run 2 runs ANALYZE first (reltuples %.0f; %d seq / %d index scans). Burst rates %.0f/s and %.0f/s.",
			h.coldBurst, h.clients, h.coldRate, h.coldWindow, h.warmup, c.Reltuples, c.SeqScans, c.IdxScans, a.Reltuples, a.SeqScans, a.IdxScans, c.Burst.Rate, a.Burst.Rate)
	}
	if c := h.capRes; c != nil {
		var steps string
		for i, s := range c.Steps {
			if i > 0 {
				steps += ", "
			}
			v := "held"
			if !s.Held {
				v = s.Why
			}
			steps += fmt.Sprintf("%.0f/s p99 %.1f ms (%s)", s.Rate, stats.Ms(s.P99), v)
		}
		h.note("Default process capacity: one relay (RELAY_ROLE=all, embedded NATS, default settings, fake CTrack with %s latency); each step posts single events open loop for 2 s + %s and waits up to 15 s for every outcome on relay.confirmations.liasmart.>. Steps: %s.",
			h.vendorLatency, h.capWindow, steps)
	}
}
