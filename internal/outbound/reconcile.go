package outbound

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"relay/internal/bus"
	"relay/internal/metrics"
	"relay/internal/store"
)

// RedriveStore is what the reconciler needs of PostgreSQL.
type RedriveStore interface {
	HoldLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	Redrive(ctx context.Context, o store.RedriveOptions) (int, error)
}

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	// Vendors are those this process can call (credentials set).
	Vendors []string
	// Interval between passes (default 10s).
	Interval time.Duration
	// Grace is how overdue an event must be before it is re-driven
	// (default 30s); with Interval it bounds how long an owed event can
	// wait for a lost message: under a minute by default.
	Grace time.Duration
	// Probe is RELAY_PAUSE_PROBE.
	Probe time.Duration
	// Limit bounds the events of one statement (default 1000); a pass
	// repeats while statements come back full.
	Limit int
	// Holder names this process in the lease.
	Holder string
	// Nudge is called after a pass wrote to the outbox.
	Nudge   func()
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Now     func() time.Time
}

// Reconciler sends back to the workers, from PostgreSQL, every event that
// is owed a call and whose message the bus no longer holds (expired,
// purged, lost with a node, or acked while its vendor was paused): pending
// without progress, retrying past its time, paused while its vendor runs,
// and one paused event per paused vendor when its probe is due. One
// replica at a time runs it, holding a lease; a dead holder's lease runs
// out and another takes over.
type Reconciler struct {
	cfg   ReconcilerConfig
	store RedriveStore
}

// NewReconciler returns a reconciler; Run starts it.
func NewReconciler(cfg ReconcilerConfig, st RedriveStore) *Reconciler {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.Probe <= 0 {
		cfg.Probe = time.Minute
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 1000
	}
	if cfg.Nudge == nil {
		cfg.Nudge = func() {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{cfg: cfg, store: st}
}

// Run makes a pass every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("reconciler pass", "err", err)
		}
	}
}

// Pass takes (or keeps) the lease and, holding it, re-drives what is due.
// It returns how many events it sent back; 0 without the lease.
func (r *Reconciler) Pass(ctx context.Context) (int, error) {
	if len(r.cfg.Vendors) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(r.cfg.Interval, 30*time.Second))
	defer cancel()
	now := r.cfg.Now()
	held, err := r.store.HoldLease(ctx, "reconciler", r.cfg.Holder, now, now.Add(3*r.cfg.Interval))
	if err != nil || !held {
		return 0, err
	}
	total := 0
	for {
		n, err := r.store.Redrive(ctx, store.RedriveOptions{
			Vendors: r.cfg.Vendors, SubjectPrefix: bus.RegistrationsPrefix, Grace: r.cfg.Grace, Probe: r.cfg.Probe,
			Limit: r.cfg.Limit, Tag: strconv.FormatInt(r.cfg.Now().UnixNano(), 36),
		})
		total += n
		if err != nil {
			return total, err
		}
		if n > 0 {
			r.cfg.Nudge()
		}
		if n < r.cfg.Limit {
			break
		}
	}
	if total > 0 {
		r.cfg.Metrics.Redriven.WithLabelValues("reconciler").Add(float64(total))
		r.cfg.Logger.Info("re-drove events owed a call from PostgreSQL", "events", total)
	}
	return total, nil
}
