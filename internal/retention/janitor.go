// Package retention keeps PostgreSQL from growing without bound: a janitor
// deletes final events (with their attempts and replay rows), final and
// published delivery-report messages, and published outbox rows once they
// are older than RELAY_RETENTION.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"relay/internal/metrics"
	"relay/internal/store"
)

// LeaseName is the janitor's row in monitor_leases.
const LeaseName = "retention"

// Store is what the janitor needs of PostgreSQL.
type Store interface {
	TryLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	PurgeEvents(ctx context.Context, cutoff time.Time, limit int) (store.PurgedEvents, error)
	PurgeMessages(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	PurgeOutbox(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	VacuumWhereNoAutovacuum(ctx context.Context, tables []string) (bool, error)
}

// Config configures a Janitor.
type Config struct {
	// Retention is RELAY_RETENTION: rows final (or published) longer ago
	// than this are deleted. 0 disables the janitor.
	Retention time.Duration
	// Interval between passes across the fleet; default 1m.
	Interval time.Duration
	// Batch is the most rows one statement deletes; default 1000.
	Batch int
	// Holder names this process in the lease; default host:pid:random.
	Holder  string
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Now is the clock of the cutoff and the lease; default time.Now.
	Now func() time.Time
}

// Janitor deletes old final rows. Every replica that runs workers may run
// one: before each pass it takes the "retention" lease in monitor_leases
// for 90% of the interval, and the pass stops (to resume at the next) when
// that time runs short, so one pass runs at a time across the fleet. Each
// statement deletes at most Batch rows with FOR UPDATE SKIP LOCKED, so it
// holds few locks, briefly, and never waits for a worker.
type Janitor struct {
	cfg Config
	st  Store
	log *slog.Logger
	m   *metrics.Metrics
}

// New returns a janitor over st.
func New(cfg Config, st Store) *Janitor {
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
		cfg.Interval = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32())
	}
	return &Janitor{cfg: cfg, st: st, log: cfg.Logger, m: cfg.Metrics}
}

// Deleted counts the rows a pass deleted, by table.
type Deleted struct {
	Events, Attempts, ReplayEvents, Messages, Outbox int64
	// Statements is how many DELETE statements the pass ran.
	Statements int
}

// Run makes a pass now and then every Interval (with 10% jitter) until
// ctx ends. With Retention 0 it returns at once.
func (j *Janitor) Run(ctx context.Context) {
	if j.cfg.Retention <= 0 {
		j.log.Info("retention janitor off (RELAY_RETENTION=0): final events are kept")
		return
	}
	j.log.Info("retention janitor started", "retention", j.cfg.Retention, "interval", j.cfg.Interval)
	for {
		if _, _, err := j.Pass(ctx); err != nil && ctx.Err() == nil {
			j.log.Warn("retention pass", "err", err)
		}
		wait := time.Duration(float64(j.cfg.Interval) * (0.9 + 0.2*rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Pass deletes, when it gets the lease, what is older than Retention, in
// batches, until nothing is left or the lease runs short. ran reports
// whether it held the lease; with Retention 0 it does nothing.
func (j *Janitor) Pass(ctx context.Context) (d Deleted, ran bool, err error) {
	if j.cfg.Retention <= 0 {
		return d, false, nil
	}
	now := j.cfg.Now()
	lease := j.cfg.Interval * 9 / 10
	ok, err := j.st.TryLease(ctx, LeaseName, j.cfg.Holder, now, now.Add(lease))
	if err != nil || !ok {
		return d, false, err
	}
	start := time.Now()
	// Stop with a tenth of the lease to spare: the statement in flight
	// then ends before another replica may take the lease.
	ctx, cancel := context.WithTimeout(ctx, lease*9/10)
	defer cancel()
	cutoff := now.Add(-j.cfg.Retention)
	err = j.purge(ctx, cutoff, &d)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		j.log.Info("retention pass stopped at the end of its lease; the next one goes on", "deleted", d)
		err = nil
	}
	if err == nil && d.Events+d.Messages+d.Outbox > 0 {
		// Without autovacuum (some servers run so), the space of the rows
		// deleted is reused only after a vacuum: do it, or the footprint
		// grows whatever is deleted.
		vacuumed, verr := j.st.VacuumWhereNoAutovacuum(ctx, []string{"events", "attempts", "replay_events", "messages", "outbox"})
		if verr != nil {
			j.log.Warn("vacuum after the retention pass (autovacuum is off)", "err", verr)
		} else if vacuumed {
			j.log.Info("autovacuum is off on this server: vacuumed the tables the retention pass deleted from")
		}
	}
	j.m.RetentionPass.Observe(time.Since(start).Seconds())
	if d.Events+d.Messages+d.Outbox > 0 {
		j.log.Info("retention pass", "cutoff", cutoff, "events", d.Events, "attempts", d.Attempts,
			"replay_events", d.ReplayEvents, "messages", d.Messages, "outbox", d.Outbox,
			"statements", d.Statements, "duration", time.Since(start))
	}
	return d, true, err
}

func (j *Janitor) purge(ctx context.Context, cutoff time.Time, d *Deleted) error {
	count := func(table string, n int64, total *int64) {
		*total += n
		j.m.RetentionDeleted.WithLabelValues(table).Add(float64(n))
	}
	for {
		p, err := j.st.PurgeEvents(ctx, cutoff, j.cfg.Batch)
		if err != nil {
			return err
		}
		d.Statements++
		count("events", p.Events, &d.Events)
		count("attempts", p.Attempts, &d.Attempts)
		count("replay_events", p.ReplayEvents, &d.ReplayEvents)
		if p.Events < int64(j.cfg.Batch) {
			break
		}
	}
	for _, t := range []struct {
		table string
		purge func(context.Context, time.Time, int) (int64, error)
		total *int64
	}{
		{"messages", j.st.PurgeMessages, &d.Messages},
		{"outbox", j.st.PurgeOutbox, &d.Outbox},
	} {
		for {
			n, err := t.purge(ctx, cutoff, j.cfg.Batch)
			if err != nil {
				return err
			}
			d.Statements++
			count(t.table, n, t.total)
			if n < int64(j.cfg.Batch) {
				break
			}
		}
	}
	return nil
}
