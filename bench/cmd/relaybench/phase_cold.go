package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"relay/bench/internal/load"
	"relay/bench/internal/proc"
	"relay/bench/internal/stats"
)

// coldResult is one run of the cold-database phase: a burst of single
// events into a relay on a freshly created database, then a steady rate.
type coldResult struct {
	Variant  string      `json:"variant"`
	Analyzed bool        `json:"analyzed"`
	Burst    load.Result `json:"burst"`
	Steady   load.Result `json:"steady"`
	CPU      proc.Split  `json:"cpu"`
	// SeqScans and IdxScans count the scans of events during the steady
	// window (pg_stat_user_tables, which backends update about once a
	// second).
	SeqScans int64 `json:"seq_scans"`
	IdxScans int64 `json:"idx_scans"`
	// Reltuples is what the planner's statistics said events held when
	// the steady window began (0: analyzed while empty, -1: never).
	Reltuples float64 `json:"reltuples"`
}

// phaseCold measures the cold-database cliff: a fresh deployment (relay
// with the worker, embedded NATS, a database relay creates and migrates at
// start) takes a burst of -cold-burst single events and then -cold-rate
// events/s, once as it comes and once with an explicit ANALYZE between the
// burst and the steady window. Statistics that still describe an empty
// events table must not make the first run slower than the second.
func (h *harness) phaseCold(ctx context.Context) error {
	h.coldRes = map[string]*coldResult{}
	for _, analyze := range []bool{false, true} {
		r, err := h.coldRun(ctx, analyze)
		if err != nil {
			return err
		}
		h.coldRes[r.Variant] = r
		h.report.Runs["cold_"+r.Variant] = r
	}
	return nil
}

func (h *harness) coldRun(ctx context.Context, analyze bool) (*coldResult, error) {
	res := &coldResult{Variant: "cold", Analyzed: analyze}
	if analyze {
		res.Variant = "analyzed"
	}
	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	_, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		return nil, err
	}
	o := relayOpts{role: "all", dbURL: h.newDB("cold_" + res.Variant), dataDir: filepath.Join(h.tmp, "cold-"+res.Variant+"-nats"), ctrackURL: ctrackURL}
	inst, err := h.startRelay(ctx, "relay-cold-"+res.Variant, o)
	if err != nil {
		return nil, err
	}
	defer h.stop(inst.Process)
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	client := load.NewClient(h.clients)
	defer client.CloseIdleConnections()
	start := time.Now()
	res.Burst = load.Fixed(ctx, client, h.singleTarget(inst.base, "burst"), h.clients, int64(h.coldBurst))
	h.logf("  %s: burst of %d single events in %s (%.0f/s), p50 %.2fms p99 %.2fms, errors %d",
		res.Variant, res.Burst.Requests, time.Since(start).Round(time.Millisecond), res.Burst.Rate,
		stats.Ms(res.Burst.Latency.P50), stats.Ms(res.Burst.Latency.P99), res.Burst.Errors)
	if res.Burst.Errors > 0 {
		h.errorf("cold %s: %d failed requests in the burst (statuses %v)", res.Variant, res.Burst.Errors, res.Burst.Statuses)
	}
	if analyze {
		if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
	}
	if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass`).Scan(&res.Reltuples); err != nil {
		return nil, err
	}
	seq0, idx0, err := eventScans(ctx, conn)
	if err != nil {
		return nil, err
	}
	m := proc.StartSplit(inst.PID())
	res.Steady = load.Open(ctx, client, h.singleTarget(inst.base, "coldsteady"), h.coldRate, h.clients, h.warmup, h.coldWindow)
	res.CPU = m.Stop()
	h.logRun("cold_steady_"+res.Variant, res.Steady, 1, res.CPU)
	h.logStalls(res.Steady)
	if res.Steady.Errors > 0 {
		h.errorf("cold %s: %d failed requests in the steady window (statuses %v)", res.Variant, res.Steady.Errors, res.Steady.Statuses)
	}
	// Backends report their counters about once a second.
	time.Sleep(1500 * time.Millisecond)
	seq1, idx1, err := eventScans(ctx, conn)
	if err != nil {
		return nil, err
	}
	res.SeqScans, res.IdxScans = seq1-seq0, idx1-idx0
	h.logf("  %s: events reltuples %.0f when the window began; %d sequential and %d index scans of events during it",
		res.Variant, res.Reltuples, res.SeqScans, res.IdxScans)
	return res, nil
}

func eventScans(ctx context.Context, conn *pgx.Conn) (seq, idx int64, err error) {
	err = conn.QueryRow(ctx, `SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relid = 'events'::regclass`).
		Scan(&seq, &idx)
	return seq, idx, err
}
