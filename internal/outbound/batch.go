package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/bus"
	"relay/internal/store"
	"relay/internal/vendors/confirm"
)

// item is one event of a batch with everything decided about it.
type item struct {
	msgs  []jetstream.Msg // the first and any duplicates in the batch
	reg   bus.Registration
	event store.Event
	mine  bool // the batch holds the event's claim

	call    *call
	verdict *verdict
	result  *store.Result // what to write; nil: nothing

	// settle is how the messages end once the batch is recorded: ack, or
	// nak with delay.
	ack   bool
	delay time.Duration

	// With tracing on: the event's worker span and its context.
	span trace.Span
	ctx  context.Context
}

// errPanic is wrapped by the error of a vendor call whose client panicked.
var errPanic = errors.New("panic")

// panicText bounds a panic's value for an error text: it can be anything.
func panicText(v any) string { return fmt.Sprintf("%.200v", v) }

// processGuarded is process, with a panic contained to its batch: logged
// with its stack, the batch abandoned as a crash would abandon it (its
// messages come back after AckWait, its claims run out), the worker going
// on with the next batch.
func (w *Worker) processGuarded(ctx context.Context, msgs []jetstream.Msg) {
	defer func() {
		if v := recover(); v != nil {
			w.log.Error("panic while processing a batch; its messages come back after AckWait",
				"err", panicText(v), "batch", len(msgs), "stack", string(debug.Stack()))
		}
	}()
	w.process(ctx, msgs)
}

// process handles one batch: claim its events in PostgreSQL, call the
// vendor for those it holds, decide, record everything in one transaction,
// announce the outcomes, then ack or nak the messages.
func (w *Worker) process(ctx context.Context, msgs []jetstream.Msg) {
	defer w.release(msgs)
	items, order := w.decode(msgs)
	if len(order) == 0 {
		return
	}
	_, batchSpan := w.traceBatch(ctx, items, order)
	defer endTraces(batchSpan, items, order)
	token := uuid.New()
	// The claim runs out Lease after PostgreSQL took it, which is after
	// this instant: a call that ends before claimStart+Lease ends inside
	// the claim, whatever the clocks say.
	claimStart := time.Now()
	newEvents := make([]store.NewEvent, 0, len(order))
	for _, id := range order {
		newEvents = append(newEvents, items[id].newEvent(id))
	}
	claimed, err := retryStore(ctx, w, func(ctx context.Context) ([]store.Claimed, error) {
		return w.store.ClaimEvents(inSpanOf(ctx, batchSpan), token, w.cfg.Lease, newEvents)
	})
	if errors.Is(err, store.ErrInvalidData) {
		claimed, order, err = w.claimEach(ctx, batchSpan, token, items, order)
	}
	if err != nil {
		w.log.Error("claiming events; batch left for redelivery", "err", err, "batch", len(msgs))
		return
	}
	for _, c := range claimed {
		if it := items[c.Event.ID]; it != nil {
			it.event, it.mine = c.Event, c.Mine
		}
	}

	if w.gate.anyPaused() {
		// The pause may have been lifted since the last refresh, and the
		// batch may be the re-driven events themselves: ask now.
		if err := w.gate.refresh(ctx); err != nil {
			w.log.Warn("reading vendor status", "err", err)
		}
	}
	gate := w.gate.forBatch()
	now := w.cfg.Now()
	var release []uuid.UUID
	var toCall []*item
	for _, id := range order {
		it := items[id]
		switch {
		case it.event.ID == uuid.Nil:
			// Inserted by another batch at this very instant: look again soon.
			it.delay = time.Second
		case !it.mine && it.event.State.Final():
			it.ack = true
		case !it.mine:
			// Another batch holds the claim: no call, no budget spent. Its
			// call usually ends in well under a second and the claim with
			// it, so look again soon rather than when the claim would run out.
			w.m.ClaimsBusy.WithLabelValues(it.reg.Vendor).Inc()
			it.delay = time.Second
			if u := it.event.ClaimedUntil; u != nil && u.Sub(now) < it.delay {
				it.delay = max(u.Sub(now), 50*time.Millisecond)
			}
		default:
			release = append(release, id)
			if it.event.State == store.StateRetrying && it.event.NextAttemptAt != nil && it.event.NextAttemptAt.Sub(now) > time.Second {
				// Redelivered early (a re-drive, a duplicate): the schedule
				// in PostgreSQL is the one that counts.
				it.delay = it.event.NextAttemptAt.Sub(now)
				continue
			}
			ok, probe, why := gate.mayCall(ctx, it.reg.Vendor)
			if !ok {
				w.park(it, why, now)
				continue
			}
			it.call = &call{probe: probe}
			toCall = append(toCall, it)
		}
	}
	var calls sync.WaitGroup
	for _, it := range w.limitRate(ctx, batchSpan, toCall) {
		calls.Add(1)
		w.sem <- struct{}{}
		go func() {
			defer calls.Done()
			defer func() { <-w.sem }()
			if time.Since(claimStart)+w.cfg.VendorTimeout > w.cfg.Lease {
				// Too late in the claim to call (checked once a call
				// slot is ours): another batch may take the event when
				// the claim runs out, and the two calls would overlap.
				// Let the message come back.
				it.call = nil
				it.delay = time.Second
				return
			}
			w.callVendor(ctx, it)
		}()
	}
	calls.Wait()

	pol := policy{maxAttempts: w.cfg.MaxAttempts, backoff: w.cfg.Backoff, probe: w.cfg.PauseProbe}
	var results []store.Result
	var signals []vendorCall
	for _, id := range order {
		it := items[id]
		if it.call != nil {
			v := decide(pol, it.event, *it.call, w.cfg.Now())
			it.verdict, it.result = &v, &v.result
			vc := vendorCall{vendor: it.reg.Vendor, done: it.call.done, signal: v.signal, probe: it.call.probe}
			if v.signal == refused {
				vc.reason, vc.code = it.result.LastError, it.call.answer.Code()
			}
			signals = append(signals, vc)
		}
		if it.result != nil {
			results = append(results, *it.result)
		}
	}
	tallies := tally(signals, w.cfg.BreakerThreshold)
	planNow := w.cfg.Now()
	decideBatch := func(s store.BatchState) store.Plan {
		return plan(planInput{state: s, tallies: tallies, seed: token, probe: w.cfg.PauseProbe, now: planNow})
	}
	if w.beforeCommit != nil {
		if err := w.beforeCommit(ctx); err != nil {
			w.log.Warn("batch abandoned before commit (test hook)", "err", err)
			return
		}
	}
	out, err := retryStore(ctx, w, func(ctx context.Context) (store.BatchOutcome, error) {
		return w.store.RecordBatch(inSpanOf(ctx, batchSpan),
			store.Batch{Token: token, Release: release, Results: results, Vendors: lockedVendors(tallies, results)}, decideBatch)
	})
	if err != nil {
		// The calls were made; their messages come back after AckWait,
		// the claims run out, and a repeated call gets 1009: the effect
		// stays once.
		w.log.Error("recording results; batch left for redelivery", "err", err, "batch", len(msgs))
		return
	}
	w.gate.apply(out.Changes)
	for _, c := range out.Changes {
		w.logChange(c)
	}
	if len(out.Changes) > 0 {
		w.cfg.Nudge()
	}
	for _, e := range out.Events {
		it := items[e.ID]
		it.event = e
		w.settle(it, now)
	}
	for _, id := range order {
		if it := items[id]; it.verdict != nil {
			w.logVerdict(it)
		}
	}
	w.publishOutcomes(ctx, items, order)
	for _, id := range order {
		it := items[id]
		for _, m := range it.msgs {
			if it.ack {
				_ = m.Ack()
			} else {
				_ = m.NakWithDelay(max(it.delay, 0))
			}
		}
	}
}

// claimEach claims a batch's events one at a time, once PostgreSQL has
// refused the batch's claim for a value one of them carries (ingest never
// publishes such an event; something else wrote to the subject). An event
// refused alone can never be recorded: its messages are terminated, and
// the others go on. It returns the claims and the events kept, in order.
func (w *Worker) claimEach(ctx context.Context, span trace.Span, token uuid.UUID, items map[uuid.UUID]*item, order []uuid.UUID) ([]store.Claimed, []uuid.UUID, error) {
	var claimed []store.Claimed
	kept := make([]uuid.UUID, 0, len(order))
	for _, id := range order {
		it := items[id]
		c, err := retryStore(ctx, w, func(ctx context.Context) ([]store.Claimed, error) {
			return w.store.ClaimEvents(inSpanOf(ctx, span), token, w.cfg.Lease, []store.NewEvent{it.newEvent(id)})
		})
		if errors.Is(err, store.ErrInvalidData) {
			w.log.Error("registration refused by PostgreSQL; terminated",
				append(w.eventKeys(id, it.reg.Vendor, it.reg.MessageID), "err", err)...)
			for _, m := range it.msgs {
				_ = m.Term()
			}
			if it.span != nil {
				it.span.End()
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		claimed = append(claimed, c...)
		kept = append(kept, id)
	}
	return claimed, kept, nil
}

// settle decides how an event's messages end from its row as committed.
// PostgreSQL owns what is not final: a paused event's message is acked
// (a resume or the reconciler re-drives it), a retrying one comes back
// when due.
func (w *Worker) settle(it *item, now time.Time) {
	it.ack, it.delay = false, time.Second
	switch {
	case it.event.State.Final(), it.event.State == store.StatePaused:
		it.ack = true
	case it.event.State == store.StateRetrying && it.event.NextAttemptAt != nil:
		it.delay = it.event.NextAttemptAt.Sub(now)
	}
}

// park keeps an event waiting for its paused vendor. The event is paused
// in PostgreSQL, spends nothing, and its message is acked: the vendor's
// resume, or the reconciler once it runs, sends it back.
func (w *Worker) park(it *item, why pause, now time.Time) {
	if it.event.State == store.StatePaused {
		it.ack = true
		return
	}
	next := now.Add(w.cfg.PauseProbe)
	it.result = &store.Result{EventID: it.event.ID, State: store.StatePaused, NextAttemptAt: &next,
		LastError: "vendor paused: " + why.reason, Generation: it.event.Generation}
}

func (w *Worker) callVendor(ctx context.Context, it *item) {
	c := w.cfg.Confirmers[it.reg.Vendor]
	it.call.started = w.cfg.Now()
	ctx, span := w.traceCall(ctx, it)
	t0 := time.Now()
	it.call.answer, it.call.err = w.confirm(ctx, c, it)
	it.call.duration = time.Since(t0)
	it.call.done = time.Now()
	endCall(span, it.call)
	w.m.VendorCalls.WithLabelValues(it.reg.Vendor, callLabel(it.call.answer, it.call.err)).Observe(it.call.duration.Seconds())
}

// conversion is what the vendor is told of it: the message and when it
// converted, the registration's occurred_at or else when relay accepted
// it (the event's created_at, recorded from the first message's
// received_at), so that a retry days later, or a re-drive, still reports
// the true time.
func (it *item) conversion() confirm.Conversion {
	at := it.event.CreatedAt
	switch {
	case it.event.OccurredAt != nil:
		at = *it.event.OccurredAt
	case it.reg.OccurredAt != nil:
		at = *it.reg.OccurredAt
	}
	return confirm.Conversion{MessageID: it.reg.MessageID, At: at}
}

// confirm calls the vendor's client. A panic in it fails this call alone,
// as a transient failure ("panic: ..."), logged with its stack; the other
// calls of the batch go on.
func (w *Worker) confirm(ctx context.Context, c Confirmer, it *item) (a confirm.Answer, err error) {
	defer func() {
		if v := recover(); v != nil {
			a, err = confirm.Answer{Outcome: confirm.Transient}, fmt.Errorf("%w: %s", errPanic, panicText(v))
			w.log.Error("vendor client panicked; the call counts as a transient failure",
				append(w.eventKeys(it.event.ID, it.reg.Vendor, it.reg.MessageID), "err", err, "stack", string(debug.Stack()))...)
		}
	}()
	return c.Confirm(ctx, it.conversion())
}

// callLabel names a call's answer for metrics and spans from a bounded
// set: the vendor's own code where it is a verdict (the vendor package
// documents each), else the kind of failure (confirm.Class: "timeout",
// "http_503", ...; "panic" for a client that panicked). An undocumented
// code is "transient": a vendor could send any number of them.
func callLabel(a confirm.Answer, err error) string {
	switch {
	case errors.Is(err, errPanic):
		return "panic"
	case err == nil && a.Outcome != confirm.Transient && a.Status != "":
		return a.Status
	}
	return confirm.Class(a, err)
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
			// to the subject. Never deliver it again.
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

func (it *item) newEvent(id uuid.UUID) store.NewEvent {
	return store.NewEvent{
		ID: id, Vendor: it.reg.Vendor, MessageID: it.reg.MessageID,
		OccurredAt: it.reg.OccurredAt, Metadata: it.reg.Metadata, APIKey: it.reg.APIKey,
		AcceptedAt: it.reg.ReceivedAt,
	}
}
