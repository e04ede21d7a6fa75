package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/vendors/liasmart"
)

// Store is what the worker needs of PostgreSQL.
type Store interface {
	UpsertEvents(ctx context.Context, db store.DBTX, evs []store.NewEvent) ([]store.Event, error)
	RecordResults(ctx context.Context, results []store.Result) ([]store.Event, error)
	PauseVendor(ctx context.Context, vendor, reason string, alert *store.OutboxMessage) (bool, error)
	ResumeVendor(ctx context.Context, vendor string) (bool, error)
	VendorStatuses(ctx context.Context) ([]store.VendorStatus, error)
}

// Config configures a Worker.
type Config struct {
	// Confirmers by vendor name. A vendor present with a nil Confirmer is
	// known but not configured: its events wait, paused.
	Confirmers  map[string]Confirmer
	MaxAttempts int
	Backoff     Backoff
	// PauseProbe is how often one event is let through to a paused vendor
	// to learn whether the credentials work again.
	PauseProbe time.Duration
	// Concurrency bounds concurrent vendor calls.
	Concurrency int
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
	Logger        *slog.Logger
	Metrics       *metrics.Metrics
	Now           func() time.Time
}

// Worker consumes relay.registrations.> and confirms each event.
type Worker struct {
	cfg      Config
	store    Store
	js       jetstream.JetStream
	consumer jetstream.Consumer
	log      *slog.Logger
	m        *metrics.Metrics
	sem      chan struct{}

	heldMu   sync.Mutex
	held     map[jetstream.Msg]struct{} // received, not yet acked or naked
	inflight map[uuid.UUID]struct{}     // events a batch of this process handles

	mu        sync.Mutex
	paused    map[string]string    // vendor -> reason
	lastProbe map[string]time.Time // vendor -> last probe call

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
	return &Worker{
		cfg: cfg, store: st, js: js, consumer: consumer,
		log: cfg.Logger, m: cfg.Metrics,
		sem:       make(chan struct{}, cfg.Concurrency),
		paused:    map[string]string{},
		lastProbe: map[string]time.Time{},
		held:      map[jetstream.Msg]struct{}{},
		inflight:  map[uuid.UUID]struct{}{},
	}
}

// Run consumes until ctx is cancelled, then stops pulling, finishes the
// batches in hand and returns. Messages fetched but not started are left
// unacknowledged: JetStream redelivers them to another worker after
// AckWait, and a nak would only hurry that.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.refreshStatus(ctx); err != nil {
		w.log.Warn("reading vendor status", "err", err)
	}
	incoming := make(chan jetstream.Msg, w.cfg.Batch)
	cc, err := w.consumer.Consume(func(msg jetstream.Msg) {
		w.hold(msg)
		select {
		case incoming <- msg:
		case <-ctx.Done():
			// Not started: nak so that another replica takes it now.
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
				w.process(context.WithoutCancel(ctx), b)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.refreshLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		w.keepAliveLoop(ctx)
	}()

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
			for _, m := range batch {
				_ = m.Nak()
			}
			close(batches)
			wg.Wait()
			// Stop() lets the handler deliver what was buffered; drain it.
			for {
				select {
				case m := <-incoming:
					_ = m.Nak()
				default:
					return nil
				}
			}
		}
		w.m.BatchSize.Observe(float64(len(batch)))
		select {
		case batches <- batch:
		case <-ctx.Done():
			for _, m := range batch {
				_ = m.Nak()
			}
		}
	}
}

func (w *Worker) refreshLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.StatusRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.refreshStatus(ctx); err != nil && ctx.Err() == nil {
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

func (w *Worker) refreshStatus(ctx context.Context) error {
	statuses, err := w.store.VendorStatuses(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused = map[string]string{}
	for vendor, c := range w.cfg.Confirmers {
		if c == nil {
			w.paused[vendor] = "credentials not configured"
		}
	}
	for _, s := range statuses {
		if s.Paused {
			w.paused[s.Vendor] = s.Reason
		}
	}
	for vendor := range w.cfg.Confirmers {
		_, p := w.paused[vendor]
		w.m.VendorPaused.WithLabelValues(vendor).Set(boolGauge(p))
	}
	return nil
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (w *Worker) anyPaused(items map[uuid.UUID]*item) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, it := range items {
		if _, p := w.paused[it.reg.Vendor]; p && !it.event.State.Final() {
			return true
		}
	}
	return false
}

// mayCall reports whether a call to vendor may be made now: always when it
// is running; once per PauseProbe when it is paused (the probe).
func (w *Worker) mayCall(vendor string) (ok bool, probe bool, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	reason, paused := w.paused[vendor]
	if !paused {
		return true, false, ""
	}
	if w.cfg.Confirmers[vendor] == nil {
		return false, false, reason
	}
	now := w.cfg.Now()
	if now.Sub(w.lastProbe[vendor]) >= w.cfg.PauseProbe {
		w.lastProbe[vendor] = now
		return true, true, reason
	}
	return false, false, reason
}

func (w *Worker) setPaused(vendor, reason string, paused bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if paused {
		w.paused[vendor] = reason
		w.lastProbe[vendor] = w.cfg.Now()
	} else {
		delete(w.paused, vendor)
	}
	w.m.VendorPaused.WithLabelValues(vendor).Set(boolGauge(paused))
}

// item is one event of a batch with everything decided about it.
type item struct {
	msgs  []jetstream.Msg // the first and any duplicates in the batch
	reg   bus.Registration
	event store.Event

	// settle is how the messages end: ack, or nak with delay.
	ack   bool
	delay time.Duration

	result *store.Result // nil: nothing to write
	call   struct {
		res      liasmart.Result
		err      error
		started  time.Time
		duration time.Duration
		probe    bool
	}
}

func (w *Worker) process(ctx context.Context, msgs []jetstream.Msg) {
	defer w.release(msgs)
	items, order := w.decode(msgs)
	if busy := w.claim(order); busy != nil {
		mine := order[:0:0]
		for _, id := range order {
			if busy[id] {
				for _, m := range items[id].msgs {
					_ = m.NakWithDelay(time.Second)
				}
				delete(items, id)
				continue
			}
			mine = append(mine, id)
		}
		order = mine
	}
	defer w.unclaim(order)
	if len(order) == 0 {
		return
	}
	newEvents := make([]store.NewEvent, 0, len(order))
	for _, id := range order {
		newEvents = append(newEvents, items[id].newEvent())
	}
	events, err := retryStore(ctx, w, func(ctx context.Context) ([]store.Event, error) {
		return w.store.UpsertEvents(ctx, nil, newEvents)
	})
	if err != nil {
		w.log.Error("recording events; batch left for redelivery", "err", err, "batch", len(msgs))
		return
	}
	for _, e := range events {
		if it := items[e.ID]; it != nil {
			it.event = e
		}
	}

	if w.anyPaused(items) {
		// The pause may have been lifted since the last refresh, and the
		// batch may be the resumed events themselves: ask PostgreSQL now
		// rather than send them away for another PauseProbe.
		if err := w.refreshStatus(ctx); err != nil {
			w.log.Warn("reading vendor status", "err", err)
		}
	}
	now := w.cfg.Now()
	var calls sync.WaitGroup
	for _, id := range order {
		it := items[id]
		switch {
		case it.event.ID == uuid.Nil:
			// Not returned by the upsert: cannot happen short of a bug;
			// leave it for redelivery rather than guess.
			w.log.Error("event missing after upsert", "event_id", id)
			it.delay = time.Second
		case it.event.State.Final():
			it.ack = true
		case it.event.NextAttemptAt != nil && it.event.NextAttemptAt.Sub(now) > time.Second &&
			it.event.State == store.StateRetrying:
			// Redelivered early (a duplicate message, a replica's nak):
			// the schedule in PostgreSQL is the one that counts.
			it.delay = it.event.NextAttemptAt.Sub(now)
		default:
			ok, probe, reason := w.mayCall(it.reg.Vendor)
			if !ok {
				w.waitPaused(it, reason, now)
				continue
			}
			it.call.probe = probe
			calls.Add(1)
			w.sem <- struct{}{}
			go func() {
				defer calls.Done()
				defer func() { <-w.sem }()
				w.callVendor(ctx, it)
			}()
		}
	}
	calls.Wait()

	for _, id := range order {
		it := items[id]
		if it.call.started.IsZero() {
			continue
		}
		w.decide(ctx, it)
	}

	var results []store.Result
	for _, id := range order {
		if r := items[id].result; r != nil {
			results = append(results, *r)
		}
	}
	if w.beforeCommit != nil {
		if err := w.beforeCommit(ctx); err != nil {
			w.log.Warn("batch abandoned before commit (test hook)", "err", err)
			return
		}
	}
	updated, err := retryStore(ctx, w, func(ctx context.Context) ([]store.Event, error) {
		return w.store.RecordResults(ctx, results)
	})
	if err != nil {
		// The vendor calls were made; their messages come back after
		// AckWait and the repeated calls get 1009: the effect stays once.
		w.log.Error("recording results; batch left for redelivery", "err", err, "batch", len(msgs))
		return
	}
	for _, e := range updated {
		it := items[e.ID]
		it.event = e
		if e.State.Final() {
			it.ack = true
			it.delay = 0
		}
	}
	w.publishOutcomes(ctx, items, order)
	for _, id := range order {
		it := items[id]
		for _, m := range it.msgs {
			if it.ack {
				_ = m.Ack()
			} else {
				_ = m.NakWithDelay(it.delay)
			}
		}
	}
}

// hold registers messages received from JetStream until they are acked
// or naked; release forgets them. Every held message, whether in a batch
// or still queued for one, is kept alive (InProgress) every third of
// AckWait: a worker stuck waiting for PostgreSQL must not have its queued
// messages redelivered to another worker meanwhile.
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

// claim marks the events of a batch as being handled by this process and
// returns those another batch here already handles: their messages wait
// (nak with a short delay) instead of calling the vendor a second time.
func (w *Worker) claim(ids []uuid.UUID) (busy map[uuid.UUID]bool) {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	for _, id := range ids {
		if _, ok := w.inflight[id]; ok {
			if busy == nil {
				busy = map[uuid.UUID]bool{}
			}
			busy[id] = true
			continue
		}
		w.inflight[id] = struct{}{}
	}
	return busy
}

func (w *Worker) unclaim(ids []uuid.UUID) {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	for _, id := range ids {
		delete(w.inflight, id)
	}
}

// decode parses the batch, terminating messages that can never be
// processed, and groups duplicates (same event id) together.
func (w *Worker) decode(msgs []jetstream.Msg) (map[uuid.UUID]*item, []uuid.UUID) {
	items := make(map[uuid.UUID]*item, len(msgs))
	order := make([]uuid.UUID, 0, len(msgs))
	for _, m := range msgs {
		var reg bus.Registration
		err := json.Unmarshal(m.Data(), &reg)
		var id uuid.UUID
		if err == nil {
			id, err = uuid.Parse(reg.ID)
		}
		if err == nil && (reg.Vendor == "" || reg.MessageID == "") {
			err = errors.New("vendor or message_id missing")
		}
		if err != nil {
			// Ingest never publishes such a message; something else wrote
			// to the subject. Keep it in the stream for inspection, but
			// never deliver it again.
			w.log.Error("undecodable registration terminated", "subject", m.Subject(), "err", err)
			// Term, not TermWithReason: NATS 2.9 servers predate reasons.
			_ = m.Term()
			continue
		}
		if it, ok := items[id]; ok {
			it.msgs = append(it.msgs, m)
			continue
		}
		items[id] = &item{msgs: []jetstream.Msg{m}, reg: reg}
		order = append(order, id)
	}
	return items, order
}

func (it *item) newEvent() store.NewEvent {
	id, _ := uuid.Parse(it.reg.ID)
	return store.NewEvent{
		ID: id, Vendor: it.reg.Vendor, MessageID: it.reg.MessageID,
		OccurredAt: it.reg.OccurredAt, Metadata: it.reg.Metadata, APIKey: it.reg.APIKey,
	}
}

func (w *Worker) waitPaused(it *item, reason string, now time.Time) {
	next := now.Add(w.cfg.PauseProbe)
	it.delay = w.cfg.PauseProbe
	if it.event.State != store.StatePaused {
		it.result = &store.Result{EventID: it.event.ID, State: store.StatePaused,
			NextAttemptAt: &next, LastError: "vendor paused: " + reason}
	}
}

func (w *Worker) callVendor(ctx context.Context, it *item) {
	c := w.cfg.Confirmers[it.reg.Vendor]
	it.call.started = w.cfg.Now()
	t0 := time.Now()
	it.call.res, it.call.err = c.Confirm(ctx, it.reg.MessageID)
	it.call.duration = time.Since(t0)
	label := strconv.Itoa(int(it.call.res.Code))
	if it.call.err != nil {
		label = errorClass(it.call.err)
	}
	w.m.VendorCalls.WithLabelValues(it.reg.Vendor, label).Observe(it.call.duration.Seconds())
}

func errorClass(err error) string {
	var httpErr *liasmart.HTTPError
	switch {
	case errors.As(err, &httpErr):
		return "http_" + strconv.Itoa(httpErr.StatusCode)
	case errors.Is(err, liasmart.ErrTimeout):
		return "timeout"
	case errors.Is(err, liasmart.ErrBadResponse):
		return "bad_response"
	default:
		return "transport"
	}
}

// decide turns a vendor call into the event's next state.
func (w *Worker) decide(ctx context.Context, it *item) {
	res, callErr := it.call.res, it.call.err
	decision := Classify(res, callErr)
	attempt := &store.Attempt{
		CallID: uuid.New(), EventID: it.event.ID, Attempt: it.event.Attempts + 1,
		StartedAt: it.call.started, Duration: it.call.duration, Outcome: decision.String(),
	}
	if res.HTTPStatus != 0 {
		s := res.HTTPStatus
		attempt.HTTPStatus = &s
	}
	if callErr == nil {
		code := int(res.Code)
		attempt.VendorCode = &code
	}
	errText := ""
	switch {
	case callErr != nil:
		errText = callErr.Error()
	case decision != Confirmed && decision != AlreadyConfirmed:
		errText = fmt.Sprintf("vendor code %d: %s", res.Code, res.Code.Meaning())
	}
	attempt.Error = errText
	r := &store.Result{EventID: it.event.ID, Call: attempt, SpendsBudget: decision != Pause, LastError: errText}
	it.result = r
	log := w.log.With("event_id", it.event.ID, "vendor", it.reg.Vendor, "attempt", attempt.Attempt)

	if decision != Pause && it.call.probe {
		if changed, err := w.store.ResumeVendor(ctx, it.reg.Vendor); err == nil {
			w.setPaused(it.reg.Vendor, "", false)
			if changed {
				log.Info("vendor accepts our credentials again; resumed")
				w.alert(ctx, it.reg.Vendor, "credentials_accepted", "probe call accepted; vendor resumed", nil)
			}
		}
	}

	now := w.cfg.Now()
	switch decision {
	case Confirmed:
		r.State = store.StateConfirmed
	case AlreadyConfirmed:
		r.State = store.StateAlreadyConfirmed
	case Fail:
		r.State = store.StateFailed
		log.Warn("vendor rejected the event for good", "code", int(res.Code))
	case Pause:
		r.State = store.StatePaused
		next := now.Add(w.cfg.PauseProbe)
		r.NextAttemptAt = &next
		it.delay = w.cfg.PauseProbe
		reason := fmt.Sprintf("vendor code %d: %s", res.Code, res.Code.Meaning())
		w.setPaused(it.reg.Vendor, reason, true)
		code := int(res.Code)
		alert := w.alertMessage(it.reg.Vendor, "credentials_rejected", reason, &code)
		// The alert is written with the pause, in its transaction, and
		// also published at once: if that publish fails (NATS away), the
		// outbox flush (the report poller's tick) delivers it; if both
		// land, JetStream drops the second by its message id.
		changed, err := w.store.PauseVendor(ctx, it.reg.Vendor, reason, &alert)
		if err != nil {
			log.Error("recording vendor pause", "err", err)
		}
		if changed {
			log.Error("vendor rejected our credentials; paused", "code", code)
			w.publishAlert(ctx, alert)
		}
	case Retry:
		spent := it.event.BudgetUsed + 1
		if spent >= w.cfg.MaxAttempts {
			r.State = store.StateFailed
			log.Warn("retry budget spent; failed", "err", errText)
			break
		}
		delay := w.cfg.Backoff.Delay(spent)
		next := now.Add(delay)
		r.State, r.NextAttemptAt, it.delay = store.StateRetrying, &next, delay
		w.m.Retries.WithLabelValues(it.reg.Vendor).Inc()
		log.Info("vendor call failed; retry scheduled", "err", errText, "delay", delay)
	}
}

func (w *Worker) alertMessage(vendor, kind, msg string, code *int) store.OutboxMessage {
	data, _ := json.Marshal(bus.Alert{Vendor: vendor, Kind: kind, Message: msg, Code: code, At: w.cfg.Now().UTC()})
	return store.OutboxMessage{Subject: bus.AlertSubject(vendor), MsgID: "alert:" + uuid.NewString(), Payload: data}
}

func (w *Worker) alert(ctx context.Context, vendor, kind, msg string, code *int) {
	w.publishAlert(ctx, w.alertMessage(vendor, kind, msg, code))
}

func (w *Worker) publishAlert(ctx context.Context, m store.OutboxMessage) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := w.js.Publish(ctx, m.Subject, m.Payload, jetstream.WithMsgID(m.MsgID)); err != nil {
		w.log.Error("publishing alert", "subject", m.Subject, "err", err)
	}
}

// publishOutcomes announces final events and waits for JetStream to store
// the announcements; an item whose announcement failed is not acked, so its
// redelivery (seeing the final state) announces it again. The message id
// makes such repeats collapse within the dedup window.
func (w *Worker) publishOutcomes(ctx context.Context, items map[uuid.UUID]*item, order []uuid.UUID) {
	type pending struct {
		it *item
		f  jetstream.PubAckFuture
	}
	var futures []pending
	for _, id := range order {
		it := items[id]
		if !it.ack || !it.event.State.Final() {
			continue
		}
		e := it.event
		data, _ := json.Marshal(bus.Confirmation{
			ID: e.ID.String(), Vendor: e.Vendor, MessageID: e.MessageID, Outcome: string(e.State),
			VendorCode: e.VendorCode, Attempts: e.Attempts, LastError: e.LastError,
			ConfirmedAt: e.ConfirmedAt, At: e.UpdatedAt.UTC(),
		})
		f, err := w.js.PublishAsync(bus.ConfirmationSubject(e.Vendor, string(e.State)), data,
			// The attempt count tells a new outcome (after a replay) from
			// the re-announcement of the same one, which dedup collapses.
			jetstream.WithMsgID(e.ID.String()+":"+string(e.State)+":"+strconv.Itoa(e.Attempts)))
		if err != nil {
			w.unpublished(it, err)
			continue
		}
		futures = append(futures, pending{it, f})
		if it.result != nil { // a fresh outcome, not a redelivery of an old one
			w.m.Outcomes.WithLabelValues(e.Vendor, string(e.State)).Inc()
		}
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for _, p := range futures {
		select {
		case <-p.f.Ok():
		case err := <-p.f.Err():
			w.unpublished(p.it, err)
		case <-timeout.C:
			w.unpublished(p.it, errors.New("timeout waiting for publish ack"))
		case <-ctx.Done():
			w.unpublished(p.it, ctx.Err())
		}
	}
}

func (w *Worker) unpublished(it *item, err error) {
	w.log.Warn("publishing outcome failed; will announce on redelivery", "event_id", it.event.ID, "err", err)
	it.ack = false
	it.delay = time.Second
}

// retryStore runs f until it succeeds or 30s have passed, riding out a
// PostgreSQL restart while keepAliveLoop holds the batch's messages.
func retryStore[T any](ctx context.Context, w *Worker, f func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(30 * time.Second)
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := f(cctx)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
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
