package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"relay/bench/internal/load"
	"relay/bench/internal/proc"
	"relay/bench/internal/stats"
)

// capacityStep is one steady rate tried.
type capacityStep struct {
	Rate      float64       `json:"rate"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	Due       int           `json:"due"`
	Confirmed int           `json:"confirmed"`
	Errors    int64         `json:"errors"`
	// RelayCPU and PostgresCPU are per 1,000 events posted in the step.
	RelayCPU    float64    `json:"relay_cpu_per_1k"`
	PostgresCPU float64    `json:"postgres_cpu_per_1k"`
	CPU         proc.Split `json:"cpu"`
	Held        bool       `json:"held"`
	Why         string     `json:"why,omitempty"`
}

// capacityResult is the default process's capacity.
type capacityResult struct {
	Steps []capacityStep `json:"steps"`
	// Best is the highest step held (nil: none).
	Best *capacityStep `json:"best"`
	// RSS at the first step's rate (-capacity-start), relay and the naive
	// handler with embedded NATS at the same rate.
	FirstRate float64 `json:"first_rate"`
	RelayHWM  int64   `json:"relay_hwm_bytes"`
	NaiveHWM  int64   `json:"naive_hwm_bytes"`
}

// phaseCapacity searches the highest steady rate the default single
// process (RELAY_ROLE=all, embedded NATS, default settings) holds with
// ingest p99 <= -capacity-p99 and every event confirmed: steps from
// -capacity-start up by -capacity-factor until one fails, then one step
// between the last held and the failed rate.
func (h *harness) phaseCapacity(ctx context.Context) error {
	fakeCtx, stopFake := context.WithCancel(ctx)
	defer stopFake()
	_, ctrackURL, err := fakeCTrack(fakeCtx, h.vendorLatency)
	if err != nil {
		return err
	}
	o := relayOpts{role: "all", dbURL: h.newDB("capacity"), dataDir: filepath.Join(h.tmp, "capacity-nats"), natsLayer: true, ctrackURL: ctrackURL}
	inst, err := h.startRelay(ctx, "relay-capacity", o)
	if err != nil {
		return err
	}
	defer h.stop(inst.Process)
	res := &capacityResult{FirstRate: h.capStart}
	h.capRes = res
	h.report.Runs["capacity"] = res

	step := func(rate float64) (capacityStep, error) {
		n := len(res.Steps)
		s, err := h.steadyAt(ctx, inst, steadyRun{rate: rate, window: h.capWindow, prefix: fmt.Sprintf("cap%d", n),
			name: fmt.Sprintf("capacity_%.0f", rate), row: fmt.Sprintf("capacity step %.0f/s (ingest → confirmed)", rate)})
		if err != nil {
			return capacityStep{}, err
		}
		cs := capacityStep{Rate: rate, P50: s.HTTP.Latency.P50, P99: s.HTTP.Latency.P99, Due: s.Due, Confirmed: s.Confirmed,
			Errors: s.HTTP.Errors, RelayCPU: cpuPer1k(s.RelayCPU, s.HTTP.Total), PostgresCPU: cpuPer1k(s.PostgresCPU, s.HTTP.Total), CPU: s.CPU}
		switch {
		case s.HTTP.Errors > 0:
			cs.Why = fmt.Sprintf("%d failed requests", s.HTTP.Errors)
		case s.HTTP.Rate < 0.97*rate:
			cs.Why = fmt.Sprintf("sent %.0f/s of %.0f/s", s.HTTP.Rate, rate)
		case s.HTTP.Latency.P99 > h.capP99:
			cs.Why = fmt.Sprintf("ingest p99 %.1f ms > %s", stats.Ms(s.HTTP.Latency.P99), h.capP99)
		case s.Confirmed < s.Due:
			cs.Why = fmt.Sprintf("%d of %d not confirmed within 15 s", s.Due-s.Confirmed, s.Due)
		default:
			cs.Held = true
		}
		res.Steps = append(res.Steps, cs)
		verdict := "held"
		if !cs.Held {
			verdict = "not held: " + cs.Why
		}
		h.logf("  capacity %.0f/s: %s", rate, verdict)
		return cs, nil
	}

	var held, failed float64
	for rate := h.capStart; rate <= h.capMax && ctx.Err() == nil; rate = math.Round(rate * h.capFactor) {
		cs, err := step(rate)
		if err != nil {
			return err
		}
		if len(res.Steps) == 1 {
			res.RelayHWM, _ = inst.Peak()
		}
		if !cs.Held {
			failed = rate
			break
		}
		held = rate
		res.Best = &res.Steps[len(res.Steps)-1]
	}
	if held > 0 && failed > 0 && ctx.Err() == nil {
		mid := math.Round(math.Sqrt(held * failed))
		if mid > held*1.05 {
			cs, err := step(mid)
			if err != nil {
				return err
			}
			if cs.Held {
				res.Best = &res.Steps[len(res.Steps)-1]
			}
		}
	}
	if res.Best != nil {
		h.setOther("capacity", res.Best.CPU.Other)
	} else if len(res.Steps) > 0 {
		h.setOther("capacity", res.Steps[0].CPU.Other)
	}

	// The naive handler with embedded NATS at the first step's rate: what
	// relay's resident memory at that rate is compared with.
	p, base, err := h.spawnServer(ctx, "naive-async-capacity", "serve-naive-async", "-data", filepath.Join(h.tmp, "naive-capacity-nats"))
	if err != nil {
		return err
	}
	client := load.NewClient(32)
	r := load.Open(ctx, client, h.singleTarget(base, "naivecap"), h.capStart, 32, 2*time.Second, h.capWindow)
	client.CloseIdleConnections()
	h.stop(p)
	res.NaiveHWM, _ = p.Peak()
	h.logf("  VmHWM at %.0f/s: relay %d MiB, naive handler + embedded NATS %d MiB (%d errors)", h.capStart, res.RelayHWM>>20, res.NaiveHWM>>20, r.Errors)
	return nil
}
