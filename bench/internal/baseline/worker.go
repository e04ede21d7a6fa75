package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/bench/internal/workload"
	"relay/internal/bus"
	"relay/internal/store"
	"relay/internal/vendors/liasmart"
)

// Fill publishes the bus payloads of events 0..n-1 of prefix (the bytes
// relay's ingest publishes) to an embedded NATS server storing in dataDir,
// with relay's streams, waits for every ack and shuts the
// server down: the events wait in JetStream as a backlog.
func Fill(ctx context.Context, dataDir, prefix string, n int) error {
	b, err := bus.Open(ctx, bus.Options{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx, relayStreams); err != nil {
		return err
	}
	subject := bus.RegistrationSubject("liasmart")
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		data, id := workload.BusPayload(prefix, int64(i))
		f, err := b.JS.PublishAsync(subject, data, jetstream.WithMsgID(id))
		if err != nil {
			return fmt.Errorf("fill: publish: %w", err)
		}
		futures = append(futures, f)
	}
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return errors.New("fill: acks not complete after two minutes")
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("fill: %w", err)
		}
	}
	return nil
}

// WorkerOptions configure the naive worker.
type WorkerOptions struct {
	DataDir     string // embedded NATS storage, filled by Fill
	DatabaseURL string
	CTrackURL   string
	APIID       string
	APIPassword string
	// Batch is how many messages one pull fetches (relay's
	// RELAY_WORKER_BATCH); Concurrency bounds the vendor calls in flight
	// (relay's RELAY_WORKER_CONCURRENCY).
	Batch, Concurrency int
}

// RunWorker is the straightforward worker relay's end-to-end drain is
// compared with, until ctx ends: pull a batch from JetStream, insert its
// events into PostgreSQL with one statement, call CTrack for each (up to
// Concurrency at once, with relay's vendor client), write every outcome
// with one statement, ack the batch, repeat. No retry policy, no attempts
// table, no outbox, no confirmations published: a failed call is recorded
// as failed and acked. It writes relay's events table (migrated with
// relay's schema) so that the harness reads both drains the same way.
func RunWorker(ctx context.Context, o WorkerOptions) error {
	st, err := store.Open(ctx, o.DatabaseURL, store.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	b, err := bus.Open(ctx, bus.Options{DataDir: o.DataDir, Name: "naive-worker", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx, relayStreams); err != nil {
		return err
	}
	cons, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{Vendor: "liasmart", AckWait: time.Minute, MaxAckPending: 4 * o.Batch})
	if err != nil {
		return err
	}
	client := liasmart.New(liasmart.Config{BaseURL: o.CTrackURL, APIID: o.APIID, APIPassword: o.APIPassword,
		Timeout: 10 * time.Second, MaxConns: o.Concurrency})
	pool := st.Pool()
	sem := make(chan struct{}, o.Concurrency)
	for ctx.Err() == nil {
		batch, err := cons.Fetch(o.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("naive worker: fetch: %w", err)
		}
		var msgs []jetstream.Msg
		var regs []bus.Registration
		for m := range batch.Messages() {
			var r bus.Registration
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				_ = m.Term()
				continue
			}
			msgs, regs = append(msgs, m), append(regs, r)
		}
		if len(msgs) == 0 {
			continue
		}
		n := len(regs)
		ids := make([][16]byte, n)
		vendors, mids, keys := make([]string, n), make([]string, n), make([]string, n)
		occurred := make([]*time.Time, n)
		meta := make([]string, n)
		for i, r := range regs {
			ids[i], _ = uuid.Parse(r.ID)
			vendors[i], mids[i], keys[i], occurred[i], meta[i] = r.Vendor, r.MessageID, r.APIKey, r.OccurredAt, string(r.Metadata)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO events (id, vendor, message_id, occurred_at, metadata, api_key)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]::jsonb[], $6::text[])
			ON CONFLICT DO NOTHING`, ids, vendors, mids, occurred, meta, keys); err != nil {
			return fmt.Errorf("naive worker: insert: %w", err)
		}
		states := make([]string, n)
		codes := make([]*int32, n)
		var wg sync.WaitGroup
		for i, r := range regs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				res, err := client.Call(ctx, r.MessageID)
				states[i] = "failed"
				if err == nil {
					c := int32(res.Code)
					codes[i] = &c
					switch res.Code {
					case liasmart.CodeOK:
						states[i] = "confirmed"
					case liasmart.CodeMessageAlreadyUpdate:
						states[i] = "already_confirmed"
					}
				}
			}()
		}
		wg.Wait()
		if _, err := pool.Exec(ctx, `UPDATE events e SET state = u.state, attempts = e.attempts + 1, budget_used = e.budget_used + 1,
				vendor_code = u.code, updated_at = now(),
				confirmed_at = CASE WHEN u.state IN ('confirmed', 'already_confirmed') THEN now() END
			FROM unnest($1::uuid[], $2::text[], $3::int[]) AS u(id, state, code) WHERE e.id = u.id`,
			ids, states, codes); err != nil {
			return fmt.Errorf("naive worker: results: %w", err)
		}
		for _, m := range msgs {
			_ = m.Ack()
		}
	}
	return nil
}
