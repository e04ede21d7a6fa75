package main

import (
	"fmt"
	"strings"
	"time"

	"relay/bench/internal/load"
	"relay/bench/internal/stats"
)

const mib = 1 << 20

// figures turns the results into the reported figures, each next to its
// baseline and target.
func (h *harness) figures() {
	r := h.report
	var bareRate, naiveRate, pubRate float64
	if h.res.bare != nil {
		bareRate = h.res.bare.Rate
		r.add("bare_fiber_rps", "baseline: bare Fiber handler, 202, no work (64 clients)", bareRate, "req/s", 0, "", "", nil)
	}
	if h.res.naive != nil {
		naiveRate = h.res.naive.Rate
		r.add("naive_sync_publish_rps", "baseline: naive handler, one sync js.Publish per request (64 clients)", naiveRate, "req/s", 0, "", "", nil)
	}
	if a := h.res.naiveAsync; a != nil {
		r.add("naive_async_publish_rps", "reference: the naive handler with PublishAsync + wait for the ack (64 clients)", a.Rate, "req/s", naiveRate, "naive sync publish", "", nil)
	}
	if h.res.rawPub != nil {
		pubRate = h.res.rawPub.Rate
		r.add("raw_async_publish_mps", "baseline: raw JetStream PublishAsync + Nats-Msg-Id, same payload", pubRate, "msg/s", 0, "", "", nil)
	}
	if h.res.pg != nil {
		r.add("raw_pg_copy_rps", "baseline: PostgreSQL CopyFrom into events", h.res.pg.Copy.Rate, "rows/s", 0, "", "", nil)
		r.add("raw_pg_upsert_rps", fmt.Sprintf("baseline: PostgreSQL single-row INSERT … ON CONFLICT (%d conns)", h.res.pg.Conns), h.res.pg.Upsert.Rate, "rows/s", 0, "", "", nil)
	}
	if s := h.res.relaySingle; s != nil {
		r.add("ingest_single_vs_bare", "relay ingest, single events (64 clients)", s.Rate, "req/s", bareRate, "bare Fiber", "≥ 0.45 × bare Fiber", ratioAtLeast(0.45))
		r.add("ingest_single_vs_naive", "relay ingest, single events (64 clients)", s.Rate, "req/s", naiveRate, "naive sync publish", "≥ 1.5 × naive", ratioAtLeast(1.5))
		r.add("ingest_single_p99_closed", "relay ingest, single events, p99 at full load (closed loop)", stats.Ms(s.Latency.P99), "ms",
			msOf(h.res.bare), "bare Fiber", "", nil)
	}
	if b := h.res.relayBatch; b != nil {
		ev := b.Rate * float64(h.batchSize)
		r.add("ingest_batch_eps", fmt.Sprintf("relay ingest, batches of %d (%d clients)", h.batchSize, h.batchClients), ev, "events/s", pubRate, "raw async publish",
			"≥ 100,000/s and ≥ 0.6 × raw publish", func(v, ratio float64) bool { return v >= 100_000 && ratio >= 0.6 })
		r.add("ingest_batch_p99", fmt.Sprintf("relay ingest, batch of %d, p99 request latency", h.batchSize), stats.Ms(b.Latency.P99), "ms", 0, "", "", nil)
	}
	if o := h.res.relayOpen; o != nil {
		var base float64
		if h.res.bareOpen != nil {
			base = stats.Ms(h.res.bareOpen.Latency.P99)
		}
		label := fmt.Sprintf("relay ingest latency at 50 %% of max (%.0f req/s, open loop)", o.Offered)
		r.add("ingest_p50_at_half_load", label+", p50", stats.Ms(o.Latency.P50), "ms", msP50(h.res.bareOpen), "bare Fiber same rate", "", nil)
		r.add("ingest_p99_at_half_load", label+", p99", stats.Ms(o.Latency.P99), "ms", base, "bare Fiber same rate", "< 5 ms", below(5))
		r.add("ingest_p999_at_half_load", label+", p99.9", stats.Ms(o.Latency.P999), "ms", msP999(h.res.bareOpen), "bare Fiber same rate", "", nil)
	}
	ceiling := float64(h.workerConcurrent) / h.vendorLatency.Seconds()
	if d := h.res.e2e; d != nil {
		r.add("e2e_confirmations_per_s", fmt.Sprintf("end to end: %d-event backlog drained, vendor %s", d.Events, h.vendorLatency), d.Rate, "conf/s",
			ceiling, fmt.Sprintf("vendor-bound ceiling (%d calls in flight / %s)", h.workerConcurrent, h.vendorLatency), "≥ 10,000/s", atLeast(10_000))
		r.add("e2e_pickup_to_confirmed_p50", "end to end backlog: worker pickup → confirmed, p50", stats.Ms(d.WorkerLatency.P50), "ms", ms(h.vendorLatency), "vendor latency", "", nil)
		r.add("e2e_pickup_to_confirmed_p99", "end to end backlog: worker pickup → confirmed, p99", stats.Ms(d.WorkerLatency.P99), "ms", ms(h.vendorLatency), "vendor latency", "", nil)
	}
	if s := h.res.steady; s != nil {
		limit := ms(h.vendorLatency) + 50
		label := fmt.Sprintf("steady state %.0f events/s: ingest → confirmed", s.Rate)
		r.add("steady_ingest_to_confirmed_p50", label+", p50", stats.Ms(s.IngestToConfirmed.P50), "ms", ms(h.vendorLatency), "vendor latency", "", nil)
		r.add("steady_ingest_to_confirmed_p99", label+", p99", stats.Ms(s.IngestToConfirmed.P99), "ms", ms(h.vendorLatency), "vendor latency",
			fmt.Sprintf("< %.0f ms (vendor + 50 ms)", limit), below(limit))
	}

	// Memory: every relay process with embedded NATS, at its peak.
	var peak int64
	var peakName string
	var names []string
	for _, p := range h.procs {
		if !strings.HasPrefix(p.Name, "relay-") || strings.HasPrefix(p.Name, "relay-ext") || strings.HasPrefix(p.Name, "relay-backlog") {
			continue
		}
		hwm, _ := p.Peak()
		names = append(names, fmt.Sprintf("%s %d MiB", p.Name, hwm/mib))
		if hwm > peak {
			peak, peakName = hwm, p.Name
		}
	}
	if peak > 0 {
		r.add("relay_peak_rss", fmt.Sprintf("relay peak RSS, embedded NATS (VmHWM, max over runs: %s)", peakName), float64(peak)/mib, "MiB",
			float64(h.res.naiveHWM)/mib, "naive handler + embedded NATS", "< 150 MiB", below(150))
		h.note("relay VmHWM per process: %s.", strings.Join(names, ", "))
	}
	if b := h.res.backlog; b != nil && h.res.e2e != nil {
		base := float64(h.res.e2e.HWM) / mib
		r.add("relay_rss_large_backlog", fmt.Sprintf("relay peak RSS draining a %d-event backlog for %s", b.Events, h.backlogDrain), float64(b.HWM)/mib, "MiB",
			base, fmt.Sprintf("%d-event backlog", h.res.e2e.Events), "< 150 MiB and ≤ 1.1 × baseline",
			func(v, ratio float64) bool { return v < 150 && ratio <= 1.1 })
		h.note("-backlog %d took %s (fill at %.0f events/s in %s, relay ready %s after start, %d events drained in %s).",
			b.Events, b.Total.Round(time.Second), b.FillRate, b.FillTime.Round(time.Second), b.StartToReady.Round(100*time.Millisecond), b.Drained, b.Drain.Round(time.Second))
	}
	if d := h.res.ext; d != nil {
		r.add("ext_relay_rss", fmt.Sprintf("external nats-server variant: relay peak RSS (%d-event backlog drained)", d.Events), float64(d.HWM)/mib, "MiB", 0, "", "", nil)
		r.add("ext_nats_rss", "external nats-server variant: nats-server peak RSS", float64(h.res.extNATSHWM)/mib, "MiB", 0, "", "", nil)
		r.add("ext_confirmations_per_s", "external nats-server variant: confirmations/s", d.Rate, "conf/s", ceiling, "vendor-bound ceiling", "", nil)
	}

	// CPU per 1,000 events.
	if s := h.res.relaySingle; s != nil && h.res.naive != nil {
		r.add("cpu_ingest_single", "relay CPU per 1,000 single events (ingest)", cpuPer1k(h.res.relaySingleCPU, s.Total), "CPU s",
			cpuPer1k(h.res.naiveCPU, h.res.naive.Total), "naive handler", "", nil)
	}
	if a := h.res.naiveAsync; a != nil && h.res.naive != nil {
		r.add("cpu_naive_async", "naive handler with PublishAsync: CPU per 1,000 events", cpuPer1k(h.res.naiveAsyncCPU, a.Total), "CPU s",
			cpuPer1k(h.res.naiveCPU, h.res.naive.Total), "naive sync publish", "", nil)
	}
	if b := h.res.relayBatch; b != nil && h.res.rawPub != nil {
		r.add("cpu_ingest_batch", "relay CPU per 1,000 events in batches (ingest)", cpuPer1k(h.res.relayBatchCPU, b.Total*int64(h.batchSize)), "CPU s",
			cpuPer1k(h.res.rawPub.CPU, h.res.rawPub.N), "raw publish (client + server)", "", nil)
	}
	if d := h.res.e2e; d != nil {
		r.add("cpu_e2e_relay", "relay CPU per 1,000 events drained (worker)", cpuPer1k(d.RelayCPU, int64(d.Events)), "CPU s", 0, "", "", nil)
		r.add("cpu_e2e_postgres", "PostgreSQL CPU per 1,000 events drained", cpuPer1k(d.PostgresCPU, int64(d.Events)), "CPU s", 0, "", "", nil)
	}
	if s := h.res.steady; s != nil {
		r.add("cpu_steady_relay", fmt.Sprintf("relay CPU per 1,000 events at %.0f/s (ingest + worker)", s.Rate), cpuPer1k(s.RelayCPU, s.HTTP.Total), "CPU s", 0, "", "", nil)
	}
	h.figuresRound2()
	h.vendorsFigures()
	h.notes()
	h.notesRound2()
	h.markNoise()
}

func (h *harness) notes() {
	if len(h.background) > 0 {
		var worst float64
		for _, b := range h.background {
			worst = max(worst, b)
		}
		h.note("Machine load from other processes: up to %.2f cores busy before a phase began (waited %s in all for quiet, budget -quiet-wait %s); during the runs, `other_cores` in latest.json is the busy time not charged to relay, PostgreSQL or the harness, of which the mean over the runs was %.2f cores.",
			worst, h.quietWaited.Round(time.Second), h.quietBudget, h.meanOther())
	}
	h.note("Single events: %d keep-alive clients (net/http, MaxIdleConnsPerHost %d), %s warmup + %s window, closed loop; each event has a new message_id, so every answer is 202 after a JetStream ack. Batches: %d clients × %d events.",
		h.clients, h.clients, h.warmup, h.window, h.batchClients, h.batchSize)
	h.note("Ingest runs use RELAY_ROLE=ingest (no worker in the process), like the baselines; relay, the baselines servers and nats-server are child processes, the load generator, the fake CTrack and the raw baselines run in the harness: all share the %d cores.", h.report.Machine.Cores)
	h.note("Latency at 50 %%: open loop, requests sent on schedule whatever the answers, latency from the due time (no coordinated omission).")
	if d := h.res.e2e; d != nil {
		h.note("End to end: %d events posted through the batch endpoint of an ingest-only relay (%.0f events/s), which is then stopped; relay with the worker starts on the same stream and database (ready after %s) and drains to `confirmed` against liasmarttest with Latency %s. Confirmations/s = confirmed events / (last confirmed_at − first vendor call, attempts.started_at), from PostgreSQL; wall clock from process start: %s (%.0f/s). Vendor calls %d, double confirmations %d.",
			d.Events, d.FillRate, d.StartToReady.Round(time.Millisecond), h.vendorLatency, d.Wall.Round(time.Millisecond), d.WallRate, d.VendorCalls, d.DoubleConfirm)
		h.note("Worker during the drain (relay's /metrics): %.0f batches of %.0f messages on average; vendor calls took %.1f ms on average against the fake's %s; %.0f of RELAY_WORKER_CONCURRENCY=%d calls in flight on average.",
			d.Batches, d.MeanBatch, d.MeanVendorCall, h.vendorLatency, d.VendorInFlight, h.workerConcurrent)
	}
	if s := h.res.steady; s != nil {
		h.note("Steady state: single POSTs at %.0f/s (open loop) for %s after the backlog drained, same relay; ingest → confirmed runs from the POST's due time to the harness receiving the event's outcome on relay.confirmations.liasmart.> (RELAY_NATS_LISTEN). %d of %d confirmed; ingest HTTP p99 %.2f ms; worker batches of %.1f messages on average.",
			s.Rate, s.Window, s.Confirmed, s.Due, stats.Ms(s.HTTP.Latency.P99), s.MeanBatch)
	}
	if h.res.ext != nil {
		h.note("External NATS variant: %s as its own process (RELAY_NATS_URL), so relay's RSS is without NATS; embedded NATS runs inside relay in all other runs.", h.report.Machine.NATSServer)
	}
	h.note("CPU = utime+stime from /proc/<pid>/stat over the run; PostgreSQL CPU sums the backends of this run's databases and the server's shared helpers (WAL writer, checkpointer, …), not other clients' backends.")
}

func ms(d time.Duration) float64 { return stats.Ms(d) }

func msOf(r *load.Result) float64 {
	if r == nil {
		return 0
	}
	return stats.Ms(r.Latency.P99)
}

func msP50(r *load.Result) float64 {
	if r == nil {
		return 0
	}
	return stats.Ms(r.Latency.P50)
}

func msP999(r *load.Result) float64 {
	if r == nil {
		return 0
	}
	return stats.Ms(r.Latency.P999)
}

// meanOther averages the CPU the machine spent outside the measured
// processes over every measured run.
func (h *harness) meanOther() float64 {
	var sum float64
	var n int
	for _, r := range h.report.Runs {
		switch v := r.(type) {
		case run:
			sum, n = sum+v.CPU.Other, n+1
		case *drainResult:
			sum, n = sum+v.CPU.Other, n+1
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
