package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"relay/internal/bus"
	"relay/internal/metrics"
	"relay/internal/store"
)

// BalanceConfig configures a BalanceMonitor.
type BalanceConfig struct {
	// Sources are the configured vendors' balance APIs.
	Sources []Source
	// Interval is how often each vendor is polled, across all replicas
	// (RELAY_BALANCE_INTERVAL).
	Interval time.Duration
	// Jitter spreads each replica's ticks over Interval·(1 ± Jitter);
	// default 0.1.
	Jitter float64
	// Holder names this process in leases; default host:pid:random.
	Holder  string
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Now is the clock of leases, readings and alerts; default time.Now.
	Now func() time.Time
	// Outbox, when set, is flushed after each poll (alerts).
	Outbox Outbox
}

// BalanceMonitor polls vendor balances. Every replica may run one: a
// lease row per vendor ("balance:<vendor>" in monitor_leases) is taken
// with a conditional UPDATE for 90% of the interval before each poll, so
// one poll per vendor is in flight, and one is made per interval, across
// the fleet; a crashed holder's lease just runs out.
//
// A poll stores the readings (latest and history, exact numerics), sets
// relay_vendor_balance, publishes relay.balances.<vendor>, and when a
// reading crosses below its threshold writes one low_balance alert to the
// outbox in the same transaction that records the crossing (the "below"
// state lives in PostgreSQL, so replicas and restarts agree). Rejected
// credentials raise credentials_rejected once per transition.
type BalanceMonitor struct {
	cfg BalanceConfig
	st  *store.Store
	js  JetStream
	log *slog.Logger
	m   *metrics.Metrics
}

// NewBalanceMonitor returns a monitor storing in st and publishing to js.
func NewBalanceMonitor(cfg BalanceConfig, st *store.Store, js JetStream) *BalanceMonitor {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		cfg.Jitter = 0.1
	}
	if cfg.Holder == "" {
		cfg.Holder = HolderID()
	}
	return &BalanceMonitor{cfg: cfg, st: st, js: js, log: cfg.Logger, m: cfg.Metrics}
}

// HolderID names this process in leases: host, pid and a random suffix.
func HolderID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32())
}

// Run polls at once and then every Interval (with jitter) until ctx ends.
func (b *BalanceMonitor) Run(ctx context.Context) {
	b.log.Info("balance monitor started", "vendors", len(b.cfg.Sources), "interval", b.cfg.Interval)
	for {
		_ = b.PollOnce(ctx)
		b.RefreshGauges(ctx)
		wait := time.Duration(float64(b.cfg.Interval) * (1 + b.cfg.Jitter*(2*rand.Float64()-1)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// PollOnce polls every vendor whose lease it gets, at once, and publishes
// the alerts it caused. The error joins the vendors' failures.
func (b *BalanceMonitor) PollOnce(ctx context.Context) error {
	errs := make([]error, len(b.cfg.Sources))
	var wg sync.WaitGroup
	for i, src := range b.cfg.Sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.poll(ctx, src)
		}()
	}
	wg.Wait()
	if b.cfg.Outbox != nil {
		if _, err := b.cfg.Outbox.Flush(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("publishing alerts", "err", err)
		}
	}
	return errors.Join(errs...)
}

func (b *BalanceMonitor) poll(ctx context.Context, src Source) error {
	now := b.cfg.Now()
	ok, err := b.st.TryLease(ctx, "balance:"+src.Vendor, b.cfg.Holder, now, now.Add(b.cfg.Interval*9/10))
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("balance lease", "vendor", src.Vendor, "err", err)
		}
		return err
	}
	if !ok {
		return nil // another replica polled it this interval
	}
	readings, callErr := src.Fetch(ctx)
	if callErr != nil && ctx.Err() != nil {
		return callErr // shutting down: not the vendor's failure
	}
	at := b.cfg.Now()
	class := ""
	if callErr != nil {
		class = src.Classify(callErr)
		b.m.VendorPollErrors.WithLabelValues(src.Vendor, class).Inc()
		b.log.Warn("balance poll failed", "vendor", src.Vendor, "class", class, "err", callErr)
	}
	recs := make([]store.BalanceReading, len(readings))
	for i, r := range readings {
		recs[i] = store.BalanceReading{Vendor: src.Vendor, Kind: r.Kind, Value: r.Value, CheckedAt: at}
		if src.alerts(r.Kind) && r.Value != nil && r.Value.LessThan(*src.LowBalance) {
			recs[i].Below = true
		}
	}
	err = b.st.InTx(ctx, func(db store.DBTX) error {
		crossed, err := b.st.RecordBalances(ctx, db, src.Vendor, recs)
		if err != nil {
			return err
		}
		for _, kind := range crossed {
			var value string
			for _, r := range readings {
				if r.Kind == kind {
					value = r.Value.String()
				}
			}
			threshold := src.LowBalance.String()
			if err := enqueueAlert(ctx, b.st, db, src.Vendor, bus.LowBalanceAlert{
				Alert: bus.Alert{Vendor: src.Vendor, Kind: "low_balance", At: at.UTC(),
					Message: fmt.Sprintf("%s %s is %s, below the threshold %s", src.Vendor, kind, value, threshold)},
				BalanceKind: kind, Value: value, Threshold: threshold, CheckedAt: at.UTC(),
			}); err != nil {
				return err
			}
		}
		return noteCredentials(ctx, b.st, db, src.Vendor, "balance", class, callErr, at)
	})
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("recording balances", "vendor", src.Vendor, "err", err)
		}
		return errors.Join(callErr, err)
	}
	if len(readings) > 0 {
		b.setGauges(src.Vendor, recs)
		b.announce(ctx, src.Vendor, recs)
	}
	return callErr
}

// announce publishes relay.balances.<vendor>; a reading missed by a
// subscriber is superseded by the next one, so there is no outbox here.
func (b *BalanceMonitor) announce(ctx context.Context, vendor string, recs []store.BalanceReading) {
	data, _ := json.Marshal(BalancesPayload(vendor, recs))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.js.Publish(ctx, bus.BalanceSubject(vendor), data); err != nil {
		b.log.Warn("publishing balances", "vendor", vendor, "err", err)
	}
}

// BalancesPayload is the relay.balances.<vendor> payload of readings.
func BalancesPayload(vendor string, recs []store.BalanceReading) bus.Balances {
	p := bus.Balances{Vendor: vendor, Readings: make([]bus.BalanceReading, len(recs))}
	for i, r := range recs {
		p.Readings[i] = bus.BalanceReading{Kind: r.Kind, Value: decimalText(r), CheckedAt: r.CheckedAt.UTC()}
	}
	return p
}

func decimalText(r store.BalanceReading) *string {
	if r.Value == nil {
		return nil
	}
	s := r.Value.String()
	return &s
}

func (b *BalanceMonitor) setGauges(vendor string, recs []store.BalanceReading) {
	for _, r := range recs {
		if r.Value == nil {
			b.m.VendorBalance.DeleteLabelValues(vendor, r.Kind)
			continue
		}
		b.m.VendorBalance.WithLabelValues(vendor, r.Kind).Set(r.Value.InexactFloat64())
	}
}

// RefreshGauges sets relay_vendor_balance for the configured vendors
// from the latest readings in PostgreSQL, so that every replica exports
// the fleet's latest values, not only the one that polled.
func (b *BalanceMonitor) RefreshGauges(ctx context.Context) {
	latest, err := b.st.LatestBalances(ctx)
	if err != nil {
		b.log.Warn("reading latest balances", "err", err)
		return
	}
	// Only configured vendors: a vendor switched off keeps its rows but
	// should not keep exporting its last value as if current.
	byVendor := map[string][]store.BalanceReading{}
	for _, src := range b.cfg.Sources {
		byVendor[src.Vendor] = nil
	}
	for _, r := range latest {
		if _, ok := byVendor[r.Vendor]; ok {
			byVendor[r.Vendor] = append(byVendor[r.Vendor], r)
		}
	}
	for v, recs := range byVendor {
		b.setGauges(v, recs)
	}
}
