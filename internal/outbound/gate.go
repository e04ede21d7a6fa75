package outbound

import (
	"context"
	"sync"
	"time"

	"relay/internal/metrics"
	"relay/internal/store"
)

// gate knows which vendors are paused, and why, as PostgreSQL says for the
// whole fleet (re-read every StatusRefresh, and updated at once by this
// process's own pauses and resumes), plus the vendors this process cannot
// call (no credentials). A paused vendor gets one probe call per
// PauseProbe across the fleet: the probe slot is taken in PostgreSQL.
type gate struct {
	confirmers map[string]Confirmer
	probe      time.Duration
	store      Store
	m          *metrics.Metrics

	mu     sync.Mutex
	paused map[string]pause // vendor -> why
}

type pause struct {
	kind   string // store.PauseCredentials, store.PauseUnavailable, or kindUnconfigured
	reason string
}

// kindUnconfigured is the local pause of a vendor without credentials.
const kindUnconfigured = "unconfigured"

func newGate(cfg Config, st Store) *gate {
	g := &gate{confirmers: cfg.Confirmers, probe: cfg.PauseProbe, store: st, m: cfg.Metrics, paused: map[string]pause{}}
	g.set(nil)
	return g
}

// refresh re-reads the fleet's vendor status.
func (g *gate) refresh(ctx context.Context) error {
	statuses, err := g.store.VendorStatuses(ctx)
	if err != nil {
		return err
	}
	g.set(statuses)
	return nil
}

func (g *gate) set(statuses []store.VendorStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paused = map[string]pause{}
	for vendor, c := range g.confirmers {
		if c == nil {
			g.paused[vendor] = pause{kindUnconfigured, "credentials not configured"}
		}
	}
	for _, s := range statuses {
		if _, local := g.paused[s.Vendor]; s.Paused && !local {
			g.paused[s.Vendor] = pause{s.Kind, s.Reason}
		}
	}
	g.observe()
}

// apply records the pauses and resumes a batch caused.
func (g *gate) apply(changes []store.VendorChange) {
	if len(changes) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range changes {
		if c.Paused {
			g.paused[c.Vendor] = pause{c.Kind, c.Reason}
		} else if p := g.paused[c.Vendor]; p.kind != kindUnconfigured {
			delete(g.paused, c.Vendor)
		}
	}
	g.observe()
}

// observe sets the pause gauges; g.mu is held.
func (g *gate) observe() {
	for vendor := range g.confirmers {
		p, paused := g.paused[vendor]
		g.m.VendorPaused.WithLabelValues(vendor).Set(boolGauge(paused))
		for _, k := range []string{store.PauseCredentials, store.PauseUnavailable, kindUnconfigured} {
			g.m.VendorPausedKind.WithLabelValues(vendor, k).Set(boolGauge(paused && p.kind == k))
		}
	}
}

func (g *gate) anyPaused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.paused) > 0
}

// pausedFor reports whether vendor is paused, and why.
func (g *gate) pausedFor(vendor string) (pause, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.paused[vendor]
	return p, ok
}

// batchGate is the gate as one batch sees it: one probe per paused vendor
// at most, asked of PostgreSQL once.
type batchGate struct {
	g      *gate
	probed map[string]bool // vendor -> the batch asked for the probe slot
}

func (g *gate) forBatch() *batchGate { return &batchGate{g: g, probed: map[string]bool{}} }

// mayCall reports whether a call to vendor may be made now: always when it
// runs; for a paused vendor only as the fleet's one probe of the interval.
func (b *batchGate) mayCall(ctx context.Context, vendor string) (ok, probe bool, why pause) {
	p, paused := b.g.pausedFor(vendor)
	if !paused {
		return true, false, pause{}
	}
	if p.kind == kindUnconfigured || b.probed[vendor] {
		return false, false, p
	}
	b.probed[vendor] = true
	took, err := b.g.store.TakeProbe(ctx, vendor, b.g.probe)
	if err != nil || !took {
		return false, false, p
	}
	return true, true, p
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
