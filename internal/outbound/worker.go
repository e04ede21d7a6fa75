package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/telemetry"
)

// Store is what the worker needs of PostgreSQL.
type Store interface {
	ClaimEvents(ctx context.Context, token uuid.UUID, lease time.Duration, evs []store.NewEvent) ([]store.Claimed, error)
	RecordBatch(ctx context.Context, b store.Batch, decide func(store.BatchState) store.Plan) (store.BatchOutcome, error)
	VendorStatuses(ctx context.Context) ([]store.VendorStatus, error)
	TakeProbe(ctx context.Context, vendor string, interval time.Duration) (bool, error)
	TakePermits(ctx context.Context, vendor string, rate float64, n int) (store.Permits, error)
}

// Config configures a Worker.
type Config struct {
	// Confirmers by vendor name. A vendor present with a nil Confirmer is
	// known but not configured: its events wait, paused.
	Confirmers  map[string]Confirmer
	MaxAttempts int
	Backoff     Backoff
	// PauseProbe is how often, fleet-wide, one call is let through to a
	// paused vendor to learn whether it works again.
	PauseProbe time.Duration
	// BreakerThreshold is how many consecutive transient failures, counted
	// across the fleet, pause a vendor as unavailable; 0 turns it off.
	BreakerThreshold int
	// VendorTimeout is the vendor client's own timeout. The claim lasts it
	// plus a margin, and no call starts unless it can end within the claim.
	VendorTimeout time.Duration
	// Lease is how long a batch's claim lasts (default VendorTimeout+20s).
	Lease time.Duration
	// Concurrency bounds concurrent vendor calls.
	Concurrency int
	// Rate bounds each vendor's calls per second across the fleet, as
	// PostgreSQL counts them (RELAY_<VENDOR>_RATE); 0 is off and costs no
	// statement. A call over it is put off, spending nothing.
	Rate float64
	// Batch bounds the messages handled (and written) together.
	Batch int
	// Pipelines is how many batches are in flight at once (default 4).
	Pipelines int
	// AckWait is the consumer's; batches still in hand are extended
	// (InProgress) well before it runs out.
	AckWait time.Duration
	// StatusRefresh is how often paused vendors are re-read from
	// PostgreSQL, so a pause or resume on one replica reaches the others.
	StatusRefresh time.Duration
	// Nudge, when set, is called after a commit that wrote to the outbox
	// (alerts, re-drives), so the outbox publisher sends them now.
	Nudge func()
	// Logger receives the worker's lines. A worker that confirms one
	// vendor adds the vendor key itself, so the logger given here should
	// not carry it (JSON would show the key twice).
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Now     func() time.Time
	// TracerProvider traces each event's processing and vendor call and
	// the batch's PostgreSQL writes; nil is off (no span, no cost).
	TracerProvider trace.TracerProvider
}

// Worker consumes relay.registrations.> and confirms each event. What it
// may do with an event is decided by PostgreSQL: a batch calls the vendor
// only for the events it has claimed there (see ClaimEvents), so however
// many messages name an event and however many replicas run, one call at
// most is in flight for it.
type Worker struct {
	cfg      Config
	store    Store
	js       jetstream.JetStream
	consumer jetstream.Consumer
	log      *slog.Logger
	// soleVendor is the vendor w.log already names, when the worker
	// confirms one; its lines then leave the key out.
	soleVendor string
	m          *metrics.Metrics
	sem        chan struct{}
	gate       *gate
	tracer     trace.Tracer // nil: tracing off

	heldMu sync.Mutex
	held   map[jetstream.Msg]struct{} // received, not yet acked or naked

	// abort cancels the batches in hand: Run's caller gives up waiting
	// for them (the shutdown timeout ran out).
	abortMu sync.Mutex
	abort   context.CancelFunc

	// publishTimeout bounds the wait for a batch's outcome acks (10s).
	publishTimeout time.Duration

	// beforeCommit, when set (tests), runs between the vendor calls and
	// the PostgreSQL commit; an error abandons the batch as a crash would.
	beforeCommit func(ctx context.Context) error
}

// NewWorker returns a worker; Run starts it.
func NewWorker(cfg Config, st Store, js jetstream.JetStream, consumer jetstream.Consumer) *Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 64
	}
	if cfg.Batch < 1 {
		cfg.Batch = 100
	}
	if cfg.Pipelines < 1 {
		cfg.Pipelines = 4
	}
	if cfg.StatusRefresh <= 0 {
		cfg.StatusRefresh = 2 * time.Second
	}
	if cfg.PauseProbe <= 0 {
		cfg.PauseProbe = time.Minute
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 8
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.VendorTimeout <= 0 {
		cfg.VendorTimeout = 10 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = cfg.VendorTimeout + 20*time.Second
	}
	if cfg.Nudge == nil {
		cfg.Nudge = func() {}
	}
	w := &Worker{
		cfg: cfg, store: st, js: js, consumer: consumer,
		log: cfg.Logger, m: cfg.Metrics,
		tracer: telemetry.Tracer(cfg.TracerProvider),
		sem:    make(chan struct{}, cfg.Concurrency),
		held:   map[jetstream.Msg]struct{}{},

		publishTimeout: 10 * time.Second,
	}
	if len(cfg.Confirmers) == 1 {
		for v := range cfg.Confirmers {
			w.soleVendor, w.log = v, w.log.With("vendor", v)
		}
	}
	w.gate = newGate(cfg, st)
	return w
}

// vendorKey is the vendor attribute of a line about vendor, unless the
// worker's logger already names it.
func (w *Worker) vendorKey(vendor string) []any {
	if vendor == w.soleVendor {
		return nil
	}
	return []any{"vendor", vendor}
}

// eventKeys are the attributes every line about one event carries, under
// the keys docs/operations.md lists: event_id, vendor, message_id.
func (w *Worker) eventKeys(id uuid.UUID, vendor, messageID string) []any {
	return append([]any{"event_id", id, "message_id", messageID}, w.vendorKey(vendor)...)
}

// Run consumes until ctx is cancelled, then stops pulling, finishes the
// batches in hand and returns. Messages fetched but not started are naked
// so that another replica takes them now. Abort makes the batches in hand
// give up; Run still returns only once they have.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.gate.refresh(ctx); err != nil {
		w.log.Warn("reading vendor status", "err", err)
	}
	batchCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	w.abortMu.Lock()
	w.abort = abort
	w.abortMu.Unlock()

	incoming := make(chan jetstream.Msg, w.cfg.Batch)
	cc, err := w.consumer.Consume(func(msg jetstream.Msg) {
		w.hold(msg)
		select {
		case incoming <- msg:
		case <-ctx.Done():
			_ = msg.Nak()
			w.release([]jetstream.Msg{msg})
		}
	},
		jetstream.PullMaxMessages(w.cfg.Batch),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
				w.log.Warn("consume", "err", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("outbound: consume: %w", err)
	}

	batches := make(chan []jetstream.Msg)
	var wg sync.WaitGroup
	for range w.cfg.Pipelines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				// Batches already taken are finished even while shutting
				// down: their vendor calls may have been made.
				w.processGuarded(batchCtx, b)
			}
		}()
	}
	var loops sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		w.refreshLoop(ctx)
	}()
	go func() {
		defer loops.Done()
		w.keepAliveLoop(batchCtx)
	}()
	defer loops.Wait()
	defer abort() // stops keepAliveLoop once the batches are done

	for {
		var batch []jetstream.Msg
		select {
		case <-ctx.Done():
		case msg := <-incoming:
			batch = append(batch, msg)
		fill:
			for len(batch) < w.cfg.Batch {
				select {
				case msg := <-incoming:
					batch = append(batch, msg)
				default:
					break fill
				}
			}
		}
		if ctx.Err() != nil {
			cc.Stop()
			w.nak(batch)
			close(batches)
			wg.Wait()
			// Stop() lets the handler deliver what was buffered; drain it.
			for {
				select {
				case m := <-incoming:
					w.nak([]jetstream.Msg{m})
				default:
					return nil
				}
			}
		}
		w.m.BatchSize.Observe(float64(len(batch)))
		select {
		case batches <- batch:
		case <-ctx.Done():
			w.nak(batch)
		}
	}
}

// Abort makes the batches in hand give up now (their vendor calls are
// cancelled, their messages redelivered after AckWait, their claims run
// out). Run's caller uses it when the shutdown timeout has run out, and
// then still waits for Run to return before closing the store.
func (w *Worker) Abort() {
	w.abortMu.Lock()
	defer w.abortMu.Unlock()
	if w.abort != nil {
		w.abort()
	}
}

func (w *Worker) nak(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.Nak()
	}
	w.release(msgs)
}

func (w *Worker) refreshLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.StatusRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.gate.refresh(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("reading vendor status", "err", err)
			}
			w.observeConsumer(ctx)
		}
	}
}

func (w *Worker) observeConsumer(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := w.consumer.Info(ctx)
	if err != nil {
		return
	}
	w.m.ConsumerLag.Set(float64(info.NumPending))
	w.m.AckPending.Set(float64(info.NumAckPending))
}

// hold registers messages received from JetStream until they are acked
// or naked; release forgets them. Every held message, whether in a batch
// or still queued for one, is kept alive (InProgress) every third of
// AckWait: a worker stuck waiting for PostgreSQL must not have its queued
// messages redelivered to another worker meanwhile (the claim would keep
// that worker from calling, but it would spend a round trip to learn it).
func (w *Worker) hold(m jetstream.Msg) {
	w.heldMu.Lock()
	w.held[m] = struct{}{}
	w.heldMu.Unlock()
}

func (w *Worker) release(msgs []jetstream.Msg) {
	w.heldMu.Lock()
	for _, m := range msgs {
		delete(w.held, m)
	}
	w.heldMu.Unlock()
}

func (w *Worker) keepAliveLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.heldMu.Lock()
		msgs := make([]jetstream.Msg, 0, len(w.held))
		for m := range w.held {
			msgs = append(msgs, m)
		}
		w.heldMu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// retryStore runs f until it succeeds or ctx ends, riding out a PostgreSQL
// restart while keepAliveLoop holds the batch's messages. It gives up
// after five minutes: by then the claims have run out and the messages
// are better redelivered to a healthier replica. An error that the same
// call meets again (see mayClear) is returned at once.
func retryStore[T any](ctx context.Context, w *Worker, f func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(5 * time.Minute)
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := f(cctx)
		cancel()
		if err == nil || !mayClear(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return v, err
		}
		w.log.Warn("postgres unavailable; retrying", "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return v, ctx.Err()
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// mayClear reports whether a store error may clear if the same call is
// made again. A value PostgreSQL refuses is refused again: retrying it
// would hold the batch, and every event in it, for nothing. Errors the
// store does not classify are retried (bounded by retryStore's deadline):
// a restarting server fails in more ways than anyone lists.
func mayClear(err error) bool {
	return !errors.Is(err, store.ErrInvalidData) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound)
}
