package main

import (
	"strings"
)

// noiseLimit is the CPU (cores) other processes may use during a run
// before the run's figures are marked noisy: on a 2-core machine a third
// of a core taken by someone else moves latencies and rates by more than
// the targets' margins.
const noiseLimit = 0.3

// setOther records, for a run, the machine's busy time not charged to
// the server, PostgreSQL or the harness (proc.Split.Other), in cores.
func (h *harness) setOther(run string, other float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.other == nil {
		h.other = map[string]float64{}
	}
	h.other[run] = other
}

// figureRuns names, for each figure, the runs it is computed from: the
// run of relay and the run of its baseline. A figure not listed (memory)
// does not depend on how busy the CPU was.
var figureRuns = map[string][]string{
	"bare_fiber_rps":                      {"bare_fiber_single"},
	"naive_sync_publish_rps":              {"naive_sync_publish_single"},
	"naive_async_publish_rps":             {"naive_async_publish_single", "naive_sync_publish_single"},
	"raw_async_publish_mps":               {"raw_async_publish"},
	"raw_pg_copy_rps":                     {"raw_postgres"},
	"raw_pg_upsert_rps":                   {"raw_postgres"},
	"ingest_single_vs_bare":               {"relay_ingest_single", "bare_fiber_single"},
	"ingest_single_vs_naive":              {"relay_ingest_single", "naive_sync_publish_single"},
	"ingest_single_vs_naive_async":        {"relay_ingest_single", "naive_async_publish_single"},
	"ingest_single_p99_closed":            {"relay_ingest_single", "bare_fiber_single"},
	"ingest_batch_eps":                    {"relay_ingest_batch", "raw_async_publish"},
	"ingest_batch_vs_raw":                 {"relay_ingest_batch", "raw_async_publish"},
	"ingest_batch_p99":                    {"relay_ingest_batch"},
	"ingest_p50_at_half_load":             {"relay_ingest_single_open_50pct", "bare_fiber_single_open_same_rate"},
	"ingest_p99_at_half_load":             {"relay_ingest_single_open_50pct", "bare_fiber_single_open_same_rate"},
	"ingest_p999_at_half_load":            {"relay_ingest_single_open_50pct", "bare_fiber_single_open_same_rate"},
	"ingest_p99_half_load_vs_bare":        {"relay_ingest_single_open_50pct", "bare_fiber_single_open_same_rate"},
	"ingest_p99_half_load_vs_naive_async": {"relay_ingest_single_open_50pct", "naive_async_single_open_same_rate"},
	"e2e_confirmations_per_s":             {"relay-e2e"},
	"e2e_pickup_to_confirmed_p50":         {"relay-e2e"},
	"e2e_pickup_to_confirmed_p99":         {"relay-e2e"},
	"e2e_vs_naive_worker":                 {"relay-e2e", "naive-worker"},
	"cpu_e2e_vs_naive_worker":             {"relay-e2e", "naive-worker"},
	"naive_worker_confirmations":          {"naive-worker"},
	"steady_ingest_to_confirmed_p50":      {"relay_e2e_steady_ingest"},
	"steady_ingest_to_confirmed_p99":      {"relay_e2e_steady_ingest"},
	"ext_confirmations_per_s":             {"relay-ext"},
	"cpu_ingest_single":                   {"relay_ingest_single", "naive_sync_publish_single"},
	"cpu_ingest_single_with_pg":           {"relay_ingest_single", "naive_async_publish_single"},
	"cpu_naive_async":                     {"naive_async_publish_single", "naive_sync_publish_single"},
	"cpu_ingest_batch":                    {"relay_ingest_batch", "raw_async_publish"},
	"cpu_e2e_relay":                       {"relay-e2e"},
	"cpu_e2e_postgres":                    {"relay-e2e"},
	"cpu_steady_relay":                    {"relay_e2e_steady_ingest"},
	"cold_ingest_p50":                     {"cold_steady_cold", "cold_steady_analyzed"},
	"cold_ingest_p99":                     {"cold_steady_cold", "cold_steady_analyzed"},
	"cold_seq_scans":                      {"cold_steady_cold", "cold_steady_analyzed"},
	"capacity_rate":                       {"capacity"},
	"capacity_cpu":                        {"capacity"},
	"four_vendors_vs_one":                 {vendorsOneRun, vendorsFourRun},
}

// markNoise sets every figure's OtherCores from its runs and marks it
// noisy, its target unjudged, when other load passed noiseLimit.
func (h *harness) markNoise() {
	for i := range h.report.Figures {
		f := &h.report.Figures[i]
		runs, ok := figureRuns[f.Name]
		if !ok {
			continue
		}
		worst, seen := 0.0, false
		for _, r := range runs {
			if o, ok := h.other[r]; ok {
				worst, seen = max(worst, o), true
			}
		}
		if !seen {
			continue
		}
		f.OtherCores = ptr(round(worst, 2))
		if worst > noiseLimit {
			f.Noisy, f.Met = true, nil
		}
	}
	var noisy []string
	for _, f := range h.report.Figures {
		if f.Noisy {
			noisy = append(noisy, f.Name)
		}
	}
	if len(noisy) > 0 {
		h.note("**Noisy:** other processes used more than %.1f cores during the runs of %d figures (%s): they are marked `noisy` and their targets are not judged; run `make bench` again on a quiet machine.",
			noiseLimit, len(noisy), strings.Join(noisy, ", "))
	}
}
