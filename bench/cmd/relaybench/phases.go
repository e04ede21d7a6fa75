package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"relay/bench/internal/baseline"
	"relay/bench/internal/load"
	"relay/bench/internal/proc"
	"relay/bench/internal/stats"
)

// results collects what the figures are computed from.
type results struct {
	bare, naive, naiveAsync, relaySingle, relayBatch, relayOpen, bareOpen, naiveAsyncOpen *load.Result
	bareCPU, naiveCPU, naiveAsyncCPU, relaySingleCPU, relayBatchCPU                       time.Duration
	bareHWM, naiveHWM                                                                     int64
	rawPub                                                                                *baseline.Throughput
	pg                                                                                    *baseline.PGResult
	e2e                                                                                   *drainResult
	steady                                                                                *steadyResult
	ext                                                                                   *drainResult
	extNATSHWM                                                                            int64
	extNATSCPU                                                                            time.Duration
	backlog                                                                               *backlogResult
	scale                                                                                 *scaleResult
	footprint                                                                             *footprintResult
	vendors                                                                               *vendorsResult
	// windowRSSPerEvent is relay's resident memory per event published
	// within the duplicate window (ingest-only, windowEvents of them).
	windowRSSPerEvent float64
	windowEvents      int64
}

func cpuPer1k(cpu time.Duration, events int64) float64 {
	if events == 0 {
		return 0
	}
	return cpu.Seconds() / (float64(events) / 1000)
}

// run is one HTTP run with where the CPU went meanwhile.
type run struct {
	load.Result
	CPU proc.Split `json:"cpu"`
}

func (h *harness) logRun(name string, r load.Result, perReq int, split proc.Split) {
	h.report.Runs[name] = run{r, split}
	h.setOther(name, split.Other)
	rate := num(r.Rate) + " req/s"
	if perReq > 1 {
		rate = num(r.Rate*float64(perReq)) + " events/s"
	}
	h.report.CPUTable = append(h.report.CPUTable, CPURow{Run: name, Rate: rate,
		P50: fmt.Sprintf("%.2f ms", stats.Ms(r.Latency.P50)), P99: fmt.Sprintf("%.2f ms", stats.Ms(r.Latency.P99)),
		P999: fmt.Sprintf("%.2f ms", stats.Ms(r.Latency.P999)), CPU: split})
	h.logf("  %-28s cores: server %.2f postgres %.2f harness %.2f other %.2f (machine busy %.2f of %d)",
		"", split.Server, split.Postgres, split.Harness, split.Other, split.Machine, h.report.Machine.Cores)
	h.logf("  %-28s %9.0f req/s (%9.0f events/s)  p50 %6.2fms  p99 %6.2fms  p99.9 %6.2fms  max %6.1fms  errors %d  statuses %v",
		name, r.Rate, r.Rate*float64(perReq), stats.Ms(r.Latency.P50), stats.Ms(r.Latency.P99), stats.Ms(r.Latency.P999),
		stats.Ms(r.Latency.Max), r.Errors, r.Statuses)
}

// closedRun measures p with a closed loop and returns the result and the
// process's CPU over the whole run.
func (h *harness) closedRun(ctx context.Context, name string, p *proc.Process, t *load.Target, clients int, perReq int) (load.Result, time.Duration) {
	client := load.NewClient(clients)
	defer client.CloseIdleConnections()
	cpu0 := p.CPU()
	m := proc.StartSplit(p.PID())
	r := load.Closed(ctx, client, t, clients, h.warmup, h.window)
	split := m.Stop()
	cpu := p.CPU() - cpu0
	h.logRun(name, r, perReq, split)
	if r.Errors > 0 {
		h.errorf("%s: %d failed requests (statuses %v)", name, r.Errors, r.Statuses)
	}
	return r, cpu
}

func (h *harness) phaseHTTPBaselines(ctx context.Context) error {
	p, base, err := h.spawnServer(ctx, "bare-fiber", "serve-bare")
	if err != nil {
		return err
	}
	bare, cpu := h.closedRun(ctx, "bare_fiber_single", p, h.singleTarget(base, "bare"), h.clients, 1)
	h.res.bare, h.res.bareCPU = &bare, cpu
	h.stop(p)
	h.res.bareHWM, _ = p.Peak()

	p, base, err = h.spawnServer(ctx, "naive-publish", "serve-naive", "-data", filepath.Join(h.tmp, "naive-nats"))
	if err != nil {
		return err
	}
	naive, cpu := h.closedRun(ctx, "naive_sync_publish_single", p, h.singleTarget(base, "naive"), h.clients, 1)
	h.res.naive, h.res.naiveCPU = &naive, cpu
	h.stop(p)
	h.res.naiveHWM, _ = p.Peak()

	// Not a target's baseline: tells whether publishing each request's
	// event asynchronously (and waiting for its ack) is cheaper than a
	// synchronous publish.
	p, base, err = h.spawnServer(ctx, "naive-async-publish", "serve-naive-async", "-data", filepath.Join(h.tmp, "naive-async-nats"))
	if err != nil {
		return err
	}
	async, cpu := h.closedRun(ctx, "naive_async_publish_single", p, h.singleTarget(base, "naiveasync"), h.clients, 1)
	h.res.naiveAsync, h.res.naiveAsyncCPU = &async, cpu
	h.stop(p)
	return nil
}

func (h *harness) phaseRawBaselines(ctx context.Context) error {
	m := proc.StartSplit(0)
	pub, err := baseline.RawPublish(ctx, filepath.Join(h.tmp, "rawpub-nats"), h.events)
	if err != nil {
		return fmt.Errorf("raw publish: %w", err)
	}
	h.setOther("raw_async_publish", m.Stop().Other)
	h.res.rawPub = &pub
	h.report.Runs["raw_async_publish"] = pub
	h.logf("  raw async publish: %d msgs in %s = %.0f msgs/s (harness CPU %.2fs), errors %d", pub.N, pub.Elapsed.Round(time.Millisecond), pub.Rate, pub.CPU.Seconds(), pub.Errors)

	m = proc.StartSplit(0)
	pg, err := baseline.RawPostgres(ctx, h.newDB("rawpg"), h.events, 5*time.Second, 16)
	if err != nil {
		return fmt.Errorf("raw postgres: %w", err)
	}
	h.setOther("raw_postgres", m.Stop().Other)
	h.res.pg = &pg
	h.report.Runs["raw_postgres"] = pg
	h.logf("  raw PostgreSQL: CopyFrom %.0f rows/s; single-row upserts (%d conns) %.0f rows/s, errors %d", pg.Copy.Rate, pg.Conns, pg.Upsert.Rate, pg.Upsert.Errors)
	return nil
}

func (h *harness) phaseIngest(ctx context.Context) error {
	inst, err := h.startRelay(ctx, "relay-ingest", relayOpts{role: "ingest", dbURL: h.newDB("ingest"), dataDir: filepath.Join(h.tmp, "ingest-nats")})
	if err != nil {
		return err
	}
	defer func() { h.stop(inst.Process) }() // the instance of the moment: the open-loop run has its own

	mem0, _ := proc.ReadMem(inst.PID())
	wait := h.cpuProfile(inst, "relay-ingest-single", int((h.warmup + h.window).Seconds()))
	single, cpu := h.closedRun(ctx, "relay_ingest_single", inst.Process, h.singleTarget(inst.base, "single"), h.clients, 1)
	wait()
	h.res.relaySingle, h.res.relaySingleCPU = &single, cpu

	wait = h.cpuProfile(inst, "relay-ingest-batch", int((h.warmup + h.window).Seconds()))
	batch, cpu := h.closedRun(ctx, "relay_ingest_batch", inst.Process, h.batchTarget(inst.base, "batch"), h.batchClients, h.batchSize)
	wait()
	h.res.relayBatch, h.res.relayBatchCPU = &batch, cpu
	// Every event above is still in JetStream's duplicate window, whose
	// index lives in relay's heap with the embedded server: what each
	// costs in RSS, garbage-collector headroom included.
	if mem1, err := proc.ReadMem(inst.PID()); err == nil && mem0.RSS > 0 {
		h.res.windowEvents = single.Total + batch.Total*int64(h.batchSize)
		h.res.windowRSSPerEvent = float64(mem1.RSS-mem0.RSS) / float64(h.res.windowEvents)
	}

	if h.res.relaySingle.Rate > 0 {
		// A fresh relay, as the baselines below start fresh: the runs
		// above left over half a million ids in JetStream's duplicate
		// window, whose index (about 150 B per id, in relay's heap with
		// the embedded server) makes each garbage collection longer.
		h.heapProfile(inst, "relay-ingest")
		h.stop(inst.Process)
		if inst, err = h.startRelay(ctx, "relay-ingest-open", relayOpts{role: "ingest", dbURL: h.newDB("ingestopen"),
			dataDir: filepath.Join(h.tmp, "ingest-open-nats")}); err != nil {
			return err
		}
		rate := h.res.relaySingle.Rate / 2
		client := load.NewClient(h.clients)
		m := proc.StartSplit(inst.PID())
		wait := h.traceProfile(inst, "relay-ingest-open.trace", 4)
		o := load.Open(ctx, client, h.singleTarget(inst.base, "open"), rate, h.clients, h.warmup, h.window+2*time.Second)
		split := m.Stop()
		wait()
		client.CloseIdleConnections()
		h.res.relayOpen = &o
		h.logRun("relay_ingest_single_open_50pct", o, 1, split)
		h.logStalls(o)
		if o.Errors > 0 {
			h.errorf("open-loop run: %d failed requests (statuses %v)", o.Errors, o.Statuses)
		}

		bo, err := h.openBaseline(ctx, "bare_fiber_single_open_same_rate", rate, "bare-fiber-open", "serve-bare")
		if err != nil {
			return err
		}
		h.res.bareOpen = bo
		// Not a target's baseline: what making each event durable in
		// JetStream, and nothing else, does to the tail at this rate.
		no, err := h.openBaseline(ctx, "naive_async_single_open_same_rate", rate, "naive-async-open", "serve-naive-async",
			"-data", filepath.Join(h.tmp, "naive-async-open-nats"))
		if err != nil {
			return err
		}
		h.res.naiveAsyncOpen = no
	}
	return nil
}

// openBaseline runs a baseline server (serve-bare, serve-naive-async) at
// rate in an open loop, as relay's half-load run.
func (h *harness) openBaseline(ctx context.Context, run string, rate float64, name string, args ...string) (*load.Result, error) {
	p, base, err := h.spawnServer(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	defer h.stop(p)
	client := load.NewClient(h.clients)
	defer client.CloseIdleConnections()
	m := proc.StartSplit(p.PID())
	o := load.Open(ctx, client, h.singleTarget(base, name), rate, h.clients, h.warmup, h.window+2*time.Second)
	split := m.Stop()
	h.logRun(run, o, 1, split)
	h.logStalls(o)
	return &o, nil
}

// drainResult is a backlog drained to final states.
type drainResult struct {
	Events   int     `json:"events"`
	FillRate float64 `json:"fill_rate"`
	// StartToReady is how long relay took to answer /readyz with the
	// backlog queued (NATS recovering its stream included).
	StartToReady time.Duration `json:"start_to_ready_ns"`
	// Wall runs from the process start to the harness seeing every event
	// final; Span from the drain's first vendor call (attempts.started_at)
	// to the last confirmed_at (relay's own clock: the worker's drain
	// time).
	Wall          time.Duration `json:"wall_ns"`
	Span          time.Duration `json:"span_ns"`
	Rate          float64       `json:"rate"`
	WallRate      float64       `json:"wall_rate"`
	WorkerLatency stats.Summary `json:"worker_latency"`
	Confirmed     int64         `json:"confirmed"`
	Final         int64         `json:"final"`
	Attempts      int64         `json:"attempts"`
	VendorCalls   int           `json:"vendor_calls"`
	DoubleConfirm int           `json:"double_confirmations"`
	RelayCPU      time.Duration `json:"relay_cpu_ns"`
	PostgresCPU   time.Duration `json:"postgres_cpu_ns"`
	HarnessCPU    time.Duration `json:"harness_cpu_ns"`
	FillHWM       int64         `json:"fill_hwm_bytes"`
	HWM           int64         `json:"hwm_bytes"`
	// From relay's /metrics after the drain.
	Batches        float64 `json:"batches"`
	MeanBatch      float64 `json:"mean_batch"`
	MeanVendorCall float64 `json:"mean_vendor_call_ms"`
	// VendorInFlight is the mean number of vendor calls in flight over
	// the drain (calls × mean duration / span): how much of
	// RELAY_WORKER_CONCURRENCY the worker keeps busy.
	VendorInFlight float64 `json:"vendor_in_flight"`
	// CPU is in cores over the wall time (relay from its start).
	CPU proc.Split `json:"cpu"`
}

// fill posts events through the batch endpoint of a fresh ingest-only
// relay sharing dbURL and dataDir (or natsURL), then stops it: the events
// wait in JetStream as a backlog.
func (h *harness) fill(ctx context.Context, name string, o relayOpts, events int) (rate float64, hwm int64, err error) {
	return h.fillWith(ctx, name, o, events, func(base string) *load.Target { return h.batchTarget(base, "e2e") })
}

// fillWith is fill posting the batches target makes.
func (h *harness) fillWith(ctx context.Context, name string, o relayOpts, events int, target func(base string) *load.Target) (rate float64, hwm int64, err error) {
	o.role = "ingest"
	inst, err := h.startRelay(ctx, name, o)
	if err != nil {
		return 0, 0, err
	}
	client := load.NewClient(h.batchClients)
	requests := int64(events / h.batchSize)
	r := load.Fixed(ctx, client, target(inst.base), h.batchClients, requests)
	client.CloseIdleConnections()
	h.stop(inst.Process)
	hwm, _ = inst.Peak()
	if r.Errors > 0 || r.Requests != requests {
		return 0, hwm, fmt.Errorf("fill: %d of %d batches failed (statuses %v)", requests-r.Requests, requests, r.Statuses)
	}
	rate = float64(requests) * float64(h.batchSize) / r.Window.Seconds()
	h.logf("  filled %d events through the batch endpoint at %.0f events/s", events, rate)
	return rate, hwm, nil
}

// drain starts relay with the worker on a filled backlog and waits until
// every event is final. It leaves the relay running for the caller.
func (h *harness) drain(ctx context.Context, name string, o relayOpts, events int, profileName string) (*drainResult, *relayInst, error) {
	fakeCtx, stopFake := context.WithCancel(ctx)
	fake, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		stopFake()
		return nil, nil, err
	}
	o.ctrackURL = ctrackURL
	return h.drainWith(ctx, name, o, events, profileName, []*vendorFake{liasmartFake(fake)}, stopFake)
}

// drainWith is drain against fakes already serving, the relay's settings
// for them in o; stopFake stops them with the relay.
func (h *harness) drainWith(ctx context.Context, name string, o relayOpts, events int, profileName string, fakes []*vendorFake, stopFake func()) (*drainResult, *relayInst, error) {
	o.role = "all"
	d := &drainResult{Events: events}
	self := os.Getpid()
	hcpu0, _ := proc.CPU(self)
	pg0 := proc.SnapshotPostgres()
	machine0 := proc.MachineCPU()
	spawned := time.Now()
	inst, err := h.startRelay(ctx, name, o)
	if err != nil {
		stopFake()
		return nil, nil, err
	}
	inst.onStop = stopFake
	d.StartToReady = time.Since(spawned)
	wait := h.cpuProfile(inst, profileName, 15)
	if h.profile && profileName != "" {
		// The heap in the middle of the drain, when the most is live.
		go func() {
			select {
			case <-time.After(10 * time.Second):
				h.heapProfile(inst, profileName+"-mid")
			case <-inst.Exited():
			}
		}()
	}
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return nil, inst, err
	}
	defer conn.Close(context.Background())
	// Bounded so that make bench ends: 2.5 min, more only for larger backlogs.
	deadline := time.Now().Add(max(150*time.Second, time.Duration(events/2000)*time.Second))
	lastLog := time.Now()
	for {
		_, final, _, err := countFinal(ctx, conn)
		if err != nil {
			return nil, inst, err
		}
		if final >= int64(events) {
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			h.logf("  %s: %d of %d final after %s", name, final, events, time.Since(spawned).Round(time.Second))
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return nil, inst, fmt.Errorf("%s: only %d of %d events final after %s", name, final, events, time.Since(spawned).Round(time.Second))
		}
		select {
		case <-inst.Exited():
			return nil, inst, fmt.Errorf("%s exited during the drain:\n%s", name, inst.Tail(2000))
		case <-ctx.Done():
			return nil, inst, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	d.Wall = time.Since(spawned)
	d.RelayCPU = inst.CPU()
	d.PostgresCPU = proc.SnapshotPostgres().Since(pg0)
	hcpu1, _ := proc.CPU(self)
	d.HarnessCPU = hcpu1 - hcpu0
	wall := d.Wall.Seconds()
	d.CPU = proc.Split{Server: d.RelayCPU.Seconds() / wall, Postgres: d.PostgresCPU.Seconds() / wall,
		Harness: d.HarnessCPU.Seconds() / wall, Machine: (proc.MachineCPU() - machine0).Seconds() / wall}
	d.CPU.Other = max(0, d.CPU.Machine-d.CPU.Server-d.CPU.Postgres-d.CPU.Harness)
	h.setOther(name, d.CPU.Other)
	d.HWM, _ = inst.Peak()
	m := promSums(inst.base, "relay_worker_batch_size_sum", "relay_worker_batch_size_count",
		"relay_vendor_call_duration_seconds_sum", "relay_vendor_call_duration_seconds_count")
	wait()
	h.heapProfile(inst, profileName)

	ds, err := readDrain(ctx, conn)
	if err != nil {
		return nil, inst, err
	}
	d.Confirmed, d.Final, d.Attempts = ds.Confirmed, ds.Final, ds.Attempts
	d.Span = ds.LastFinal.Sub(ds.FirstSeen)
	d.Rate = float64(ds.Confirmed) / d.Span.Seconds()
	d.WallRate = float64(d.Final) / d.Wall.Seconds()
	d.WorkerLatency = stats.Summarize(ds.Latencies)
	if c := m["relay_worker_batch_size_count"]; c > 0 {
		d.Batches, d.MeanBatch = c, m["relay_worker_batch_size_sum"]/c
	}
	if c := m["relay_vendor_call_duration_seconds_count"]; c > 0 {
		d.MeanVendorCall = 1000 * m["relay_vendor_call_duration_seconds_sum"] / c
		d.VendorInFlight = m["relay_vendor_call_duration_seconds_sum"] / d.Span.Seconds()
	}
	for _, f := range fakes {
		d.VendorCalls += f.calls()
		d.DoubleConfirm += f.doubles()
		if p := f.problems(); len(p) > 0 {
			h.errorf("%s: the fake %s saw %d requests off its documented format, the first: %s", name, f.name, len(p), p[0])
		}
	}
	h.logf("  %s: %d confirmed in %s (first pickup to last confirmation) = %.0f/s; wall %s from start (%s to ready) = %.0f/s",
		name, d.Confirmed, d.Span.Round(time.Millisecond), d.Rate, d.Wall.Round(time.Millisecond), d.StartToReady.Round(time.Millisecond), d.WallRate)
	h.logf("  pickup->confirmed p50 %.0fms p99 %.0fms; vendor calls %d, attempts %d, double confirmations %d; CPU s/1k events: relay %.3f postgres %.3f harness %.3f; relay VmHWM %d MiB",
		stats.Ms(d.WorkerLatency.P50), stats.Ms(d.WorkerLatency.P99), d.VendorCalls, d.Attempts, d.DoubleConfirm,
		cpuPer1k(d.RelayCPU, int64(events)), cpuPer1k(d.PostgresCPU, int64(events)), cpuPer1k(d.HarnessCPU, int64(events)), d.HWM>>20)
	h.logf("  worker: %.0f batches of %.0f messages on average; vendor call mean %.1fms; %.0f calls in flight on average",
		d.Batches, d.MeanBatch, d.MeanVendorCall, d.VendorInFlight)
	h.logf("  cores: relay %.2f postgres %.2f harness %.2f other %.2f (machine busy %.2f of %d)",
		d.CPU.Server, d.CPU.Postgres, d.CPU.Harness, d.CPU.Other, d.CPU.Machine, h.report.Machine.Cores)
	h.report.CPUTable = append(h.report.CPUTable, CPURow{Run: name + " drain (pickup → confirmed)", Rate: num(d.Rate) + " conf/s",
		P50: fmt.Sprintf("%.0f ms", stats.Ms(d.WorkerLatency.P50)), P99: fmt.Sprintf("%.0f ms", stats.Ms(d.WorkerLatency.P99)),
		P999: fmt.Sprintf("%.0f ms", stats.Ms(d.WorkerLatency.P999)), CPU: d.CPU})
	if d.Confirmed != int64(events) || d.DoubleConfirm > 0 {
		h.errorf("%s: %d of %d confirmed, %d double confirmations", name, d.Confirmed, events, d.DoubleConfirm)
	}
	return d, inst, nil
}

func (h *harness) phaseEndToEnd(ctx context.Context) error {
	o := relayOpts{dbURL: h.newDB("e2e"), dataDir: filepath.Join(h.tmp, "e2e-nats"), natsLayer: true}
	fillRate, fillHWM, err := h.fill(ctx, "relay-e2e-fill", o, h.events)
	if err != nil {
		return err
	}
	d, inst, err := h.drain(ctx, "relay-e2e", o, h.events, "relay-e2e-drain")
	if inst != nil {
		defer h.stopRelay(inst)
	}
	if err != nil {
		return err
	}
	d.FillRate, d.FillHWM = fillRate, fillHWM
	h.res.e2e = d
	h.report.Runs["e2e_backlog"] = d

	s, err := h.steady(ctx, inst)
	if err != nil {
		return err
	}
	h.res.steady = s
	h.report.Runs["e2e_steady"] = s
	d.HWM, _ = inst.Peak()
	return nil
}

func (h *harness) stopRelay(inst *relayInst) {
	h.stop(inst.Process)
	if inst.onStop != nil {
		inst.onStop()
	}
}

type steadyResult struct {
	Rate              float64       `json:"rate"`
	Window            time.Duration `json:"window_ns"`
	Due               int           `json:"due"`
	Confirmed         int           `json:"confirmed"`
	IngestToConfirmed stats.Summary `json:"ingest_to_confirmed"`
	HTTP              load.Result   `json:"http"`
	RelayCPU          time.Duration `json:"relay_cpu_ns"`
	PostgresCPU       time.Duration `json:"postgres_cpu_ns"`
	CPU               proc.Split    `json:"cpu"`
	// From relay's /metrics over the run.
	Batches   float64 `json:"batches"`
	MeanBatch float64 `json:"mean_batch"`
}

// steady posts single events at -steady-rate to a running relay and
// measures, per event, from the moment its POST was due to the moment
// the harness received its outcome on relay.confirmations.liasmart.>.
func (h *harness) steady(ctx context.Context, inst *relayInst) (*steadyResult, error) {
	s, err := h.steadyAt(ctx, inst, steadyRun{rate: h.steadyRate, window: h.steadyWindow, prefix: "steady",
		name: "relay_e2e_steady_ingest", row: "relay-e2e steady (ingest → confirmed)", profile: "relay-e2e-steady"})
	if err == nil && s.Confirmed < s.Due {
		h.errorf("steady state: %d of %d events not confirmed within 15 s", s.Due-s.Confirmed, s.Due)
	}
	return s, err
}

// steadyRun names one run of steadyAt.
type steadyRun struct {
	rate    float64
	window  time.Duration
	prefix  string // message ids: prefix-<n>, unique per run
	name    string // the HTTP run in latest.json
	row     string // the CPU table row of ingest → confirmed
	profile string // CPU profile file (with -profile)
}

// steadyAt is one steady run at sr.rate for sr.window after 2 s of warmup.
func (h *harness) steadyAt(ctx context.Context, inst *relayInst, sr steadyRun) (*steadyResult, error) {
	nc, err := nats.Connect("nats://"+inst.natsAddr, nats.Name("relaybench"))
	if err != nil {
		return nil, fmt.Errorf("connect to relay's NATS: %w", err)
	}
	defer nc.Close()
	var mu sync.Mutex
	due := map[int64]time.Time{}
	seen := map[int64]time.Time{}
	prefix := sr.prefix
	sub, err := nc.Subscribe("relay.confirmations.liasmart.>", func(m *nats.Msg) {
		at := time.Now()
		var c struct {
			MessageID string `json:"message_id"`
			Outcome   string `json:"outcome"`
		}
		if json.Unmarshal(m.Data, &c) != nil {
			return
		}
		num, ok := strings.CutPrefix(c.MessageID, prefix+"-")
		if !ok {
			return
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return
		}
		mu.Lock()
		if _, dup := seen[n]; !dup {
			seen[n] = at
		}
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		return nil, err
	}

	t := h.singleTarget(inst.base, prefix)
	t.Done = func(n int64, d, _ time.Time, ok bool) {
		if ok {
			mu.Lock()
			due[n] = d
			mu.Unlock()
		}
	}
	warm := 2 * time.Second
	client := load.NewClient(32)
	defer client.CloseIdleConnections()
	batchMetrics := []string{"relay_worker_batch_size_sum", "relay_worker_batch_size_count"}
	m0 := promSums(inst.base, batchMetrics...)
	cpu0 := inst.CPU()
	pg0 := proc.SnapshotPostgres()
	wait := h.cpuProfile(inst, sr.profile, int((warm + sr.window).Seconds()))
	start := time.Now()
	m := proc.StartSplit(inst.PID())
	r := load.Open(ctx, client, t, sr.rate, 32, warm, sr.window)
	split := m.Stop()
	wait()
	from := start.Add(warm)
	s := &steadyResult{Rate: sr.rate, Window: sr.window, HTTP: r, CPU: split}
	h.logRun(sr.name, r, 1, split)
	h.logStalls(r)
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for n := range due {
			if _, ok := seen[n]; !ok {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.RelayCPU = inst.CPU() - cpu0
	s.PostgresCPU = proc.SnapshotPostgres().Since(pg0)
	m1 := promSums(inst.base, batchMetrics...)
	if n := m1[batchMetrics[1]] - m0[batchMetrics[1]]; n > 0 {
		s.Batches, s.MeanBatch = n, (m1[batchMetrics[0]]-m0[batchMetrics[0]])/n
	}
	mu.Lock()
	var lats []time.Duration
	for n, d := range due {
		if d.Before(from) {
			continue
		}
		s.Due++
		if at, ok := seen[n]; ok {
			s.Confirmed++
			lats = append(lats, at.Sub(d))
		}
	}
	mu.Unlock()
	s.IngestToConfirmed = stats.Summarize(lats)
	h.report.CPUTable = append(h.report.CPUTable, CPURow{Run: sr.row, Rate: num(sr.rate) + " events/s",
		P50: fmt.Sprintf("%.1f ms", stats.Ms(s.IngestToConfirmed.P50)), P99: fmt.Sprintf("%.1f ms", stats.Ms(s.IngestToConfirmed.P99)),
		P999: fmt.Sprintf("%.1f ms", stats.Ms(s.IngestToConfirmed.P999)), CPU: split})
	h.logf("  steady %.0f/s for %s: %d of %d confirmed; ingest->confirmed p50 %.1fms p99 %.1fms p99.9 %.1fms max %.1fms; relay CPU s/1k %.3f; %.0f worker batches of %.1f messages on average",
		sr.rate, sr.window, s.Confirmed, s.Due, stats.Ms(s.IngestToConfirmed.P50), stats.Ms(s.IngestToConfirmed.P99),
		stats.Ms(s.IngestToConfirmed.P999), stats.Ms(s.IngestToConfirmed.Max), cpuPer1k(s.RelayCPU, r.Total), s.Batches, s.MeanBatch)
	return s, nil
}

func (h *harness) phaseExternalNATS(ctx context.Context) error {
	if h.extEvents <= 0 {
		return nil
	}
	if el := time.Since(h.report.StartedAt); el > 4*time.Minute+15*time.Second {
		h.note("external nats-server variant skipped: %s had passed, and make bench is to end within 6 minutes", el.Round(time.Second))
		return nil
	}
	ver := natsServerVersion(h.natsServerBin)
	if ver == "" {
		h.note("external nats-server variant skipped: %s not found", h.natsServerBin)
		return nil
	}
	h.report.Machine.NATSServer = ver
	addr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	host, port, _ := strings.Cut(addr, ":")
	ns, err := proc.Spawn("nats-server", h.natsServerBin,
		[]string{"-js", "-sd", filepath.Join(h.tmp, "ext-nats"), "-a", host, "-p", port}, nil, filepath.Join(h.tmp, "nats-server.log"))
	if err != nil {
		return err
	}
	defer func() {
		h.stop(ns)
		h.res.extNATSHWM, _ = ns.Peak()
		h.res.extNATSCPU = ns.CPU()
	}()
	if err := ns.WaitTCP(ctx, addr, 30*time.Second); err != nil {
		return err
	}
	h.track(ns)
	o := relayOpts{dbURL: h.newDB("ext"), dataDir: filepath.Join(h.tmp, "ext-unused"), natsURL: "nats://" + addr}
	fillRate, fillHWM, err := h.fill(ctx, "relay-ext-fill", o, h.extEvents)
	if err != nil {
		return err
	}
	d, inst, err := h.drain(ctx, "relay-ext", o, h.extEvents, "relay-ext-drain")
	if inst != nil {
		h.stopRelay(inst)
		if d != nil {
			d.HWM, _ = inst.Peak()
		}
	}
	if err != nil {
		return err
	}
	d.FillRate, d.FillHWM = fillRate, fillHWM
	h.res.ext = d
	h.report.Runs["external_nats_backlog"] = d
	return nil
}

type backlogResult struct {
	Events       int           `json:"events"`
	FillRate     float64       `json:"fill_rate"`
	FillTime     time.Duration `json:"fill_ns"`
	FillHWM      int64         `json:"fill_hwm_bytes"`
	StartToReady time.Duration `json:"start_to_ready_ns"`
	Drain        time.Duration `json:"drain_ns"`
	Drained      int64         `json:"drained"`
	HWM          int64         `json:"hwm_bytes"`
	Total        time.Duration `json:"total_ns"`
}

func (h *harness) phaseBacklog(ctx context.Context) error {
	if h.backlog <= 0 {
		return nil
	}
	start := time.Now()
	b := &backlogResult{Events: h.backlog}
	o := relayOpts{dbURL: h.newDB("backlog"), dataDir: filepath.Join(h.tmp, "backlog-nats")}
	var err error
	if b.FillRate, b.FillHWM, err = h.fill(ctx, "relay-backlog-fill", o, h.backlog); err != nil {
		return err
	}
	b.FillTime = time.Since(start)
	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	_, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		return err
	}
	o.role, o.ctrackURL = "all", ctrackURL
	spawned := time.Now()
	inst, err := h.startRelay(ctx, "relay-backlog", o)
	if err != nil {
		return err
	}
	b.StartToReady = time.Since(spawned)
	h.logf("  relay ready %s after start with %d events queued; draining for %s", b.StartToReady.Round(time.Millisecond), h.backlog, h.backlogDrain)
	if h.profile {
		go func() {
			select {
			case <-time.After(h.backlogDrain / 2):
				h.heapProfile(inst, "relay-backlog-mid")
			case <-inst.Exited():
			}
		}()
	}
	select {
	case <-time.After(h.backlogDrain):
	case <-ctx.Done():
	case <-inst.Exited():
		return errors.New("relay-backlog exited:\n" + inst.Tail(2000))
	}
	b.Drain = time.Since(spawned)
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err == nil {
		_, b.Drained, _, _ = countFinal(ctx, conn)
		conn.Close(ctx)
	}
	h.stop(inst.Process)
	b.HWM, _ = inst.Peak()
	b.Total = time.Since(start)
	h.res.backlog = b
	h.report.Runs["backlog"] = b
	h.logf("  backlog %d: filled at %.0f events/s (ingest relay VmHWM %d MiB); relay VmHWM %d MiB while %d drained in %s; phase took %s",
		h.backlog, b.FillRate, b.FillHWM>>20, b.HWM>>20, b.Drained, b.Drain.Round(time.Second), b.Total.Round(time.Second))
	return nil
}

func (h *harness) logStalls(r load.Result) {
	if len(r.Stalls) == 0 {
		return
	}
	var parts []string
	for i, s := range r.Stalls {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("… %d more", len(r.Stalls)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%.1fs:%d×≤%.0fms", s.At.Seconds(), s.Slow, stats.Ms(s.Worst)))
	}
	h.logf("  %-28s slow (>20ms) slices: %s", "", strings.Join(parts, " "))
}
