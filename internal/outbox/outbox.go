// Package outbox publishes what PostgreSQL's commits owe the bus: alerts
// and re-drives written to the outbox table in the transaction that
// decided them, and the reports of tracked messages that reached a final
// status. One Publisher runs per process; the workers, the pollers and
// the operator's requests nudge it after a commit that owes something.
package outbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
)

// JetStream is the part of JetStream the outbox publishes with.
type JetStream interface {
	Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
	PublishAsync(subject string, data []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// Publisher empties the two outboxes: alerts (table outbox) and the
// reports of tracked messages that reached a final status (messages with
// published_at NULL). Each message goes out with its Nats-Msg-Id
// ("alert:<uuid>", "<id>:report") and is stamped published only after
// JetStream acknowledged it; rows being published stay locked, so
// replicas publishing at once take disjoint sets, and a crash between the
// publish and the stamp republishes under the same id, which JetStream
// drops within its duplicate window. Hence one event per transition.
type Publisher struct {
	st  *store.Store
	js  JetStream
	log *slog.Logger
	// Batch is the most rows published per transaction.
	Batch int
	// Timeout bounds the wait for one batch's acks.
	Timeout time.Duration

	nudge chan struct{}
	now   func() time.Time
}

// NewPublisher returns a Publisher of st's outboxes to js.
func NewPublisher(st *store.Store, js JetStream, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	return &Publisher{st: st, js: js, log: log, Batch: 200, Timeout: 5 * time.Second,
		nudge: make(chan struct{}, 1), now: time.Now}
}

// Nudge asks Run to flush now: a commit just wrote to the outbox (a
// replay, a resume, a pause alert) and should not wait for the tick.
func (p *Publisher) Nudge() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// Run flushes every interval and on every Nudge until ctx ends. Every
// replica runs one: rows being published stay locked, so they share the
// work, and whatever a dead process wrote is sent by the others.
func (p *Publisher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.nudge:
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if _, err := p.Flush(fctx); err != nil && ctx.Err() == nil {
			p.log.Warn("flushing the outbox", "err", err)
		}
		cancel()
	}
}

// Flush publishes everything pending; it returns how many messages went
// out and the first error (the rest waits for the next Flush).
func (p *Publisher) Flush(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := p.st.PublishOutbox(ctx, p.Batch, func(ctx context.Context, msgs []store.OutboxMessage) []int64 {
			subjects := make([]string, len(msgs))
			ids := make([]string, len(msgs))
			data := make([][]byte, len(msgs))
			for i, m := range msgs {
				subjects[i], ids[i], data[i] = m.Subject, m.MsgID, m.Payload
				if m.Event != nil {
					data[i], _ = json.Marshal(registrationOf(*m.Event, p.now()))
				}
			}
			var done []int64
			for _, i := range p.publish(subjects, ids, data) {
				done = append(done, msgs[i].Seq)
			}
			return done
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < p.Batch {
			break
		}
	}
	for {
		n, err := p.st.PublishReports(ctx, p.Batch, func(ctx context.Context, msgs []store.Message) []uuid.UUID {
			subjects := make([]string, len(msgs))
			ids := make([]string, len(msgs))
			data := make([][]byte, len(msgs))
			for i, m := range msgs {
				subjects[i], ids[i] = bus.ReportSubject(m.Vendor), ReportMsgID(m.ID)
				data[i], _ = json.Marshal(ReportPayload(m))
			}
			var done []uuid.UUID
			for _, i := range p.publish(subjects, ids, data) {
				done = append(done, msgs[i].ID)
			}
			return done
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < p.Batch {
			break
		}
	}
	return total, nil
}

// publish sends every message asynchronously and returns the indexes
// JetStream acknowledged (a duplicate ack included: the message is in the
// stream either way).
func (p *Publisher) publish(subjects, ids []string, data [][]byte) []int {
	futures := make([]jetstream.PubAckFuture, len(subjects))
	for i := range subjects {
		f, err := p.js.PublishAsync(subjects[i], data[i], jetstream.WithMsgID(ids[i]))
		if err != nil {
			p.log.Warn("publishing from the outbox", "subject", subjects[i], "nats_msg_id", ids[i], "err", err)
			break
		}
		futures[i] = f
	}
	timer := time.NewTimer(p.Timeout)
	defer timer.Stop()
	var done []int
	for i, f := range futures {
		if f == nil {
			break
		}
		select {
		case <-f.Ok():
			done = append(done, i)
		case err := <-f.Err():
			p.log.Warn("publishing from the outbox", "subject", subjects[i], "nats_msg_id", ids[i], "err", err)
		case <-timer.C:
			p.log.Warn("publishing from the outbox: no ack in time; left for the next flush", "pending", len(futures)-i)
			return done
		}
	}
	return done
}

// ReportMsgID is the Nats-Msg-Id of a message's report event.
func ReportMsgID(id uuid.UUID) string { return id.String() + ":report" }

// ReportPayload is the relay.reports.<vendor> payload of a final message.
func ReportPayload(m store.Message) bus.Report {
	r := bus.Report{
		ID: m.ID.String(), Vendor: m.Vendor, MessageID: m.MessageID, AppID: m.AppID,
		Status: string(m.Status), Polls: m.Polls, PolledAt: utc(m.LastPolledAt), ReceiveTime: m.ReceiveTime,
	}
	if m.Number != nil {
		r.Number = *m.Number
	}
	if m.RawReceiveTime != nil {
		r.RawReceiveTime = *m.RawReceiveTime
	}
	return r
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// registrationOf is the relay.registrations.<vendor> payload that sends e
// back to the workers (a re-drive: replay, resume, reconciler).
func registrationOf(e store.Event, now time.Time) bus.Registration {
	r := bus.Registration{ID: e.ID.String(), Vendor: e.Vendor, MessageID: e.MessageID,
		OccurredAt: e.OccurredAt, Metadata: e.Metadata, ReceivedAt: now.UTC()}
	if e.APIKey != nil {
		r.APIKey = *e.APIKey
	}
	return r
}
