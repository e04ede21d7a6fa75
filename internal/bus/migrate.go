package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// legacyParkedSubject is what the old stream listens on while it is
// migrated: nothing publishes there, and it no longer overlaps relay.>.
const legacyParkedSubject = LegacyStream + ".migrating"

// migrateLegacy moves the single stream of older relay versions (RELAY on
// relay.>) to the split layout, once, at start:
//
//  1. The old stream is made to listen on legacyParkedSubject only, which
//     frees relay.> for the new streams; its stored messages keep their
//     subjects.
//  2. Both new streams are created.
//  3. Registrations the workers had not acked (from the durable
//     consumer's ack floor on; all of them without one) are copied to
//     RELAY_REGISTRATIONS, and events younger than RELAY_EVENTS_MAX_AGE to
//     RELAY_EVENTS, with their headers (Nats-Msg-Id included, so the
//     dedup window drops a second copy).
//  4. The old stream, and with it its consumers, is deleted.
//
// Every step can be repeated, so a crash part-way is finished by the next
// start. A registration copied that had in fact been acked above the ack
// floor is harmless: the worker finds it final in PostgreSQL and acks it.
func (b *Bus) migrateLegacy(ctx context.Context, legacy jetstream.Stream, reg, ev jetstream.StreamConfig) error {
	info, err := legacy.Info(ctx)
	if err != nil {
		return fmt.Errorf("bus: old stream %s: %w", LegacyStream, err)
	}
	regFrom := info.State.FirstSeq
	c, err := legacy.Consumer(ctx, ConsumerName)
	switch {
	case err == nil:
		regFrom = max(regFrom, c.CachedInfo().AckFloor.Stream+1)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	default:
		return fmt.Errorf("bus: old stream %s: consumer %s: %w", LegacyStream, ConsumerName, err)
	}
	b.log.Warn("migrating the old single-stream layout",
		"old_stream", LegacyStream, "messages", info.State.Msgs,
		"registrations_from_seq", regFrom, "to", []string{RegistrationsStream, EventsStream})

	if len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != legacyParkedSubject {
		parked := info.Config
		parked.Subjects = []string{legacyParkedSubject}
		if _, err := b.JS.UpdateStream(ctx, parked); err != nil {
			return fmt.Errorf("bus: old stream %s: release relay.>: %w", LegacyStream, err)
		}
	}
	if err := b.createOrUpdate(ctx, reg, ev); err != nil {
		return err
	}
	regs, events, err := b.copyLegacy(ctx, legacy, info.State, regFrom, time.Now().Add(-ev.MaxAge))
	if err != nil {
		return err
	}
	if err := b.JS.DeleteStream(ctx, LegacyStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bus: delete old stream %s: %w", LegacyStream, err)
	}
	b.log.Warn("old stream migrated and deleted", "old_stream", LegacyStream,
		"registrations_copied", regs, "events_copied", events)
	return nil
}

// copyBatch is how many copies are in flight before their acks are awaited.
const copyBatch = 256

// copyLegacy reads the old stream in order with an ordered consumer (it is
// a limits stream, so any number of consumers may read it) and republishes
// what is still owed or still news.
func (b *Bus) copyLegacy(ctx context.Context, legacy jetstream.Stream, st jetstream.StreamState, regFrom uint64, eventsAfter time.Time) (regs, events int, err error) {
	if st.Msgs == 0 {
		return 0, 0, nil
	}
	cons, err := legacy.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, 0, fmt.Errorf("bus: read old stream %s: %w", LegacyStream, err)
	}
	var seen, read uint64
	for seen < st.LastSeq && read < st.Msgs {
		// Ask for no more than is left, so the last fetch does not wait out
		// its timeout for messages that will never come.
		batch, err := cons.Fetch(int(min(copyBatch, st.Msgs-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return regs, events, fmt.Errorf("bus: read old stream %s: %w", LegacyStream, err)
		}
		var acks []jetstream.PubAckFuture
		got := 0
		for m := range batch.Messages() {
			got++
			read++
			md, err := m.Metadata()
			if err != nil {
				return regs, events, fmt.Errorf("bus: read old stream %s: %w", LegacyStream, err)
			}
			seen = md.Sequence.Stream
			isReg := strings.HasPrefix(m.Subject(), RegistrationsPrefix)
			switch {
			case isReg && seen >= regFrom:
				regs++
			case !isReg && md.Timestamp.After(eventsAfter):
				events++
			default:
				continue
			}
			f, err := b.JS.PublishMsgAsync(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
			if err != nil {
				return regs, events, fmt.Errorf("bus: copy %s seq %d: %w", m.Subject(), seen, err)
			}
			acks = append(acks, f)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return regs, events, fmt.Errorf("bus: read old stream %s: %w", LegacyStream, err)
		}
		for _, f := range acks {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return regs, events, fmt.Errorf("bus: copy %s: %w", f.Msg().Subject, err)
			case <-ctx.Done():
				return regs, events, fmt.Errorf("bus: copy from old stream %s: %w", LegacyStream, ctx.Err())
			}
		}
		if got == 0 {
			return regs, events, fmt.Errorf("bus: read old stream %s: stopped at seq %d of %d; restart to resume", LegacyStream, seen, st.LastSeq)
		}
	}
	return regs, events, nil
}
