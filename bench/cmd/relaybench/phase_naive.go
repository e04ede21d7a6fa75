package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"relay/bench/internal/baseline"
	"relay/bench/internal/proc"
	"relay/bench/internal/stats"
)

// naiveWorkerResult is the naive worker's drain of a backlog, measured as
// relay's end-to-end drain is (drainResult).
type naiveWorkerResult struct {
	Events        int           `json:"events"`
	Batch         int           `json:"batch"`
	Concurrency   int           `json:"concurrency"`
	FillTime      time.Duration `json:"fill_ns"`
	Wall          time.Duration `json:"wall_ns"`
	Span          time.Duration `json:"span_ns"`
	Rate          float64       `json:"rate"`
	WorkerLatency stats.Summary `json:"worker_latency"`
	Confirmed     int64         `json:"confirmed"`
	Final         int64         `json:"final"`
	VendorCalls   int           `json:"vendor_calls"`
	WorkerCPU     time.Duration `json:"worker_cpu_ns"`
	PostgresCPU   time.Duration `json:"postgres_cpu_ns"`
	HWM           int64         `json:"hwm_bytes"`
	CPU           proc.Split    `json:"cpu"`
}

// phaseNaiveWorker drains the end-to-end backlog with the naive worker
// (baseline.RunWorker) in its own process with embedded NATS, against a
// fake CTrack with relay's vendor latency, batch and concurrency.
func (h *harness) phaseNaiveWorker(ctx context.Context) error {
	n := h.naiveEvents
	if n <= 0 {
		n = h.events
	}
	dataDir := filepath.Join(h.tmp, "naive-worker-nats")
	start := time.Now()
	if err := baseline.Fill(ctx, dataDir, "naivew", n); err != nil {
		return err
	}
	res := &naiveWorkerResult{Events: n, Batch: h.workerBatch, Concurrency: h.workerConcurrent, FillTime: time.Since(start)}
	h.logf("  published %d events into the naive worker's JetStream in %s", n, res.FillTime.Round(time.Millisecond))

	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	fake, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dbURL := h.newDB("naiveworker")
	hcpu0, _ := proc.CPU(os.Getpid())
	pg0 := proc.SnapshotPostgres()
	machine0 := proc.MachineCPU()
	spawned := time.Now()
	p, err := proc.Spawn("naive-worker", self, []string{"serve-naive-worker", "-data", dataDir, "-db", dbURL, "-ctrack", ctrackURL,
		"-batch", strconv.Itoa(h.workerBatch), "-concurrency", strconv.Itoa(h.workerConcurrent)}, nil, filepath.Join(h.tmp, "naive-worker.log"))
	if err != nil {
		return err
	}
	h.track(p)
	defer h.stop(p)

	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	deadline := time.Now().Add(max(150*time.Second, time.Duration(n/2000)*time.Second))
	lastLog := time.Now()
	for {
		var final int64
		if conn == nil {
			conn, _ = pgx.Connect(ctx, dbURL)
		}
		if conn != nil {
			if _, f, _, err := countFinal(ctx, conn); err == nil {
				final = f
			}
		}
		if final >= int64(n) {
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			h.logf("  naive worker: %d of %d final after %s", final, n, time.Since(spawned).Round(time.Second))
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("naive worker: only %d of %d events final after %s:\n%s", final, n, time.Since(spawned).Round(time.Second), p.Tail(1500))
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("naive worker exited during the drain:\n%s", p.Tail(2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	res.Wall = time.Since(spawned)
	res.WorkerCPU = p.CPU()
	res.PostgresCPU = proc.SnapshotPostgres().Since(pg0)
	hcpu1, _ := proc.CPU(os.Getpid())
	wall := res.Wall.Seconds()
	res.CPU = proc.Split{Server: res.WorkerCPU.Seconds() / wall, Postgres: res.PostgresCPU.Seconds() / wall,
		Harness: (hcpu1 - hcpu0).Seconds() / wall, Machine: (proc.MachineCPU() - machine0).Seconds() / wall}
	res.CPU.Other = max(0, res.CPU.Machine-res.CPU.Server-res.CPU.Postgres-res.CPU.Harness)
	res.HWM, _ = p.Peak()
	ds, err := readDrain(ctx, conn)
	if err != nil {
		return err
	}
	res.Confirmed, res.Final = ds.Confirmed, ds.Final
	res.Span = ds.LastFinal.Sub(ds.FirstSeen)
	res.Rate = float64(ds.Confirmed) / res.Span.Seconds()
	res.WorkerLatency = stats.Summarize(ds.Latencies)
	res.VendorCalls = len(fake.Calls())
	h.naiveWorkerRes = res
	h.report.Runs["naive_worker_backlog"] = res
	h.setOther("naive-worker", res.CPU.Other)
	h.report.CPUTable = append(h.report.CPUTable, CPURow{Run: "naive-worker drain (pickup → confirmed)", Rate: num(res.Rate) + " conf/s",
		P50: fmt.Sprintf("%.0f ms", stats.Ms(res.WorkerLatency.P50)), P99: fmt.Sprintf("%.0f ms", stats.Ms(res.WorkerLatency.P99)),
		P999: fmt.Sprintf("%.0f ms", stats.Ms(res.WorkerLatency.P999)), CPU: res.CPU})
	h.logf("  naive worker: %d confirmed in %s (first pickup to last confirmation) = %.0f/s; wall %s; CPU s/1k confirmations: worker %.3f postgres %.3f; VmHWM %d MiB",
		res.Confirmed, res.Span.Round(time.Millisecond), res.Rate, res.Wall.Round(time.Millisecond),
		cpuPer1k(res.WorkerCPU, res.Confirmed), cpuPer1k(res.PostgresCPU, res.Confirmed), res.HWM>>20)
	h.logf("  cores: worker %.2f postgres %.2f harness %.2f other %.2f (machine busy %.2f of %d)",
		res.CPU.Server, res.CPU.Postgres, res.CPU.Harness, res.CPU.Other, res.CPU.Machine, h.report.Machine.Cores)
	if res.Confirmed != int64(n) {
		h.errorf("naive worker: %d of %d confirmed", res.Confirmed, n)
	}
	return nil
}
