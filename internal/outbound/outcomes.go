package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
)

// AlertMessages are the outbox messages announcing vendor's pause and
// resume transitions, by kind (credentials_rejected, vendor_unavailable,
// credentials_accepted, vendor_available), for a caller that learns which
// transition happens only in the store (an operator's resume). code, when
// set, is the refusal's ErrorCode.
func AlertMessages(vendor, refusal string, code *int, probe time.Duration, now time.Time) map[string]store.OutboxMessage {
	out := map[string]store.OutboxMessage{}
	for _, kind := range []string{"credentials_rejected", "vendor_unavailable", "credentials_accepted", "vendor_available"} {
		out[kind] = alertMessage(vendor, kind, refusal, code, probe, now, "alert:"+uuid.NewString())
	}
	return out
}

func (w *Worker) logChange(c store.VendorChange) {
	switch {
	case c.Paused && c.Kind == store.PauseCredentials:
		w.log.Error("vendor refused our credentials; paused", append(w.vendorKey(c.Vendor), "reason", c.Reason)...)
	case c.Paused:
		w.log.Error("vendor unavailable; paused (breaker)", append(w.vendorKey(c.Vendor), "reason", c.Reason)...)
	default:
		w.log.Info("vendor answers again; resumed", append(w.vendorKey(c.Vendor), "was", c.Kind, "redriven", c.Redriven)...)
	}
}

func (w *Worker) logVerdict(it *item) {
	log := w.log.With(append(w.eventKeys(it.event.ID, it.reg.Vendor, it.reg.MessageID), "attempt", it.result.Call.Attempt)...)
	switch it.event.State {
	case store.StateFailed:
		log.Warn("event failed for good", "decision", it.verdict.decision.String(), "err", it.result.LastError)
	case store.StateRetrying:
		w.m.Retries.WithLabelValues(it.reg.Vendor).Inc()
		log.Info("vendor call failed; retry scheduled", "err", it.result.LastError, "delay", it.verdict.delay)
	case store.StatePaused:
		log.Info("event waits for its paused vendor", "err", it.result.LastError, "probe", it.call.probe)
	}
}

// publishOutcomes announces final events and waits for JetStream to store
// the announcements; an item whose announcement failed is not acked, so its
// redelivery (seeing the final state) announces it again. The message id
// makes such repeats collapse within the dedup window. One deadline
// covers the whole batch: every future is waited for until it passes.
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
			VendorCode: e.VendorCode, VendorStatus: e.VendorStatus, Attempts: e.Attempts, LastError: e.LastError,
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
	if len(futures) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.publishTimeout)
	defer cancel()
	for _, p := range futures {
		select {
		case <-p.f.Ok():
		case err := <-p.f.Err():
			w.unpublished(p.it, err)
		case <-ctx.Done():
			w.unpublished(p.it, fmt.Errorf("no publish ack within %s: %w", w.publishTimeout, ctx.Err()))
		}
	}
}

func (w *Worker) unpublished(it *item, err error) {
	w.log.Warn("publishing outcome failed; will announce on redelivery",
		append(w.eventKeys(it.event.ID, it.event.Vendor, it.event.MessageID), "err", err)...)
	it.ack = false
	it.delay = time.Second
}
