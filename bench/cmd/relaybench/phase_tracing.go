package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"relay/bench/internal/load"
	"relay/bench/internal/proc"
)

// tracingResult is one tracing mode's end-to-end run.
type tracingResult struct {
	Mode   string  `json:"mode"`
	Events int64   `json:"events"`
	Rate   float64 `json:"ingest_rate"`
	// CPU from relay ready to every event final (ingest, publish, worker,
	// vendor call, PostgreSQL writes, and the span exports).
	RelayCPU    time.Duration `json:"relay_cpu_ns"`
	PostgresCPU time.Duration `json:"postgres_cpu_ns"`
	RelayPer1k  float64       `json:"relay_cpu_s_per_1k"`
	Exports     int64         `json:"otlp_exports"`
	ExportBytes int64         `json:"otlp_export_bytes"`
}

// otlpSink accepts OTLP/HTTP trace exports and discards them, so that
// tracing is measured with a real exporter and no collector.
type otlpSink struct {
	url           string
	posts, nbytes atomic.Int64
	srv           *http.Server
}

func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		s.posts.Add(1)
		s.nbytes.Add(n)
		// An empty ExportTraceServiceResponse: everything accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// phaseTracing measures relay's CPU per 1,000 events end to end (single
// events posted at a fixed rate, open loop, confirmed against the fake
// CTrack) with tracing off, on at 10% sampling (parentbased_traceidratio
// 0.1) and on at 100%, exporting over OTLP/HTTP to a local sink. The rate
// is fixed because the CPU per event depends on it (the worker's batches
// grow with it): the modes are compared at the same one.
func (h *harness) phaseTracing(ctx context.Context) error {
	sink, err := startOTLPSink()
	if err != nil {
		return err
	}
	defer sink.srv.Close()
	on := func(ratio string) []string {
		return []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.url,
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_TRACES_SAMPLER=parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG=" + ratio,
			// Exports every 500ms, so that the settle below sees them.
			"OTEL_BSP_SCHEDULE_DELAY=500",
		}
	}
	modes := []struct {
		key, label string
		env        []string
	}{
		{"off", "tracing off (no OTEL_* variable)", nil},
		{"10pct", "tracing on, 10% sampled (parentbased_traceidratio 0.1), OTLP/HTTP", on("0.1")},
		{"100pct", "tracing on, every trace sampled, OTLP/HTTP", on("1")},
	}
	var off float64
	for _, m := range modes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		posts0, bytes0 := sink.posts.Load(), sink.nbytes.Load()
		r, err := h.tracedRun(ctx, "relay-tracing-"+m.key, m.env)
		if err != nil {
			return fmt.Errorf("%s: %w", m.key, err)
		}
		r.Mode = m.key
		r.Exports, r.ExportBytes = sink.posts.Load()-posts0, sink.nbytes.Load()-bytes0
		h.report.Runs["tracing_"+m.key] = r
		h.logf("  %-8s %d events at %.0f/s: relay CPU %.3f s/1k events, postgres %.3f s/1k; %d OTLP exports, %d KiB",
			m.key, r.Events, r.Rate, r.RelayPer1k, cpuPer1k(r.PostgresCPU, r.Events), r.Exports, r.ExportBytes>>10)
		if m.key == "off" {
			off = r.RelayPer1k
			h.report.add("tracing_off_cpu_per_1k", "relay CPU per 1,000 events end to end, "+m.label, r.RelayPer1k, "s", 0, "", "", nil)
			continue
		}
		h.report.add("tracing_"+m.key+"_cpu_per_1k", "relay CPU per 1,000 events end to end, "+m.label, r.RelayPer1k, "s", off, "tracing off", "", nil)
	}
	h.note("tracing: CPU per 1,000 events from one run per mode on a shared machine; differences of 10%% or so are noise")
	return nil
}

// tracedRun starts relay (all roles) with env, posts single events at
// h.tracingRate for h.tracingWindow (after 1s of warmup at that rate) and
// waits until every one is final.
func (h *harness) tracedRun(ctx context.Context, name string, env []string) (*tracingResult, error) {
	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	_, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		return nil, err
	}
	o := relayOpts{role: "all", dbURL: h.newDB("tracing_" + name[len("relay-tracing-"):]),
		dataDir: filepath.Join(h.tmp, name+"-nats"), ctrackURL: ctrackURL, env: env}
	inst, err := h.startRelay(ctx, name, o)
	if err != nil {
		return nil, err
	}
	defer h.stop(inst.Process)
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	cpu0, pg0 := inst.CPU(), proc.SnapshotPostgres()
	client := load.NewClient(h.clients)
	target := h.singleTarget(inst.base, name)
	lr := load.Open(ctx, client, target, h.tracingRate, h.clients, time.Second, h.tracingWindow)
	client.CloseIdleConnections()
	if lr.Errors > 0 {
		return nil, fmt.Errorf("%d posts failed (statuses %v)", lr.Errors, lr.Statuses)
	}
	// Seq numbered every request, warmup included; each was answered 202
	// (no error), so each is an event to wait for.
	events := target.Seq.Load()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, final, _, err := countFinal(ctx, conn)
		if err != nil {
			return nil, err
		}
		if final >= events {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d events final by the deadline", final, events)
		}
		select {
		case <-inst.Exited():
			return nil, fmt.Errorf("%s exited:\n%s", name, inst.Tail(2000))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The batch span processor's last exports (every 500ms) belong to
	// these events: let them land before reading the CPU, in every mode
	// alike.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := &tracingResult{Events: events, RelayCPU: inst.CPU() - cpu0, PostgresCPU: proc.SnapshotPostgres().Since(pg0)}
	if lr.Window > 0 {
		r.Rate = float64(lr.Requests) / lr.Window.Seconds()
	}
	r.RelayPer1k = cpuPer1k(r.RelayCPU, events)
	return r, nil
}
