package outbound

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/confirm"
)

// benchBatch is RELAY_WORKER_BATCH's default.
const benchBatch = 500

// benchConfirmer answers 1000 at once: the benchmarks measure the worker,
// not a vendor.
type benchConfirmer struct{}

func (benchConfirmer) Confirm(context.Context, confirm.Conversion) (confirm.Answer, error) {
	return confirm.Answer{Outcome: confirm.Confirmed, Status: "1000", Meaning: "OK", HTTPStatus: 200}, nil
}

// timedStore measures the time the worker spends in its two batch
// statements.
type timedStore struct {
	Store
	upsert, record time.Duration
}

func (t *timedStore) ClaimEvents(ctx context.Context, token uuid.UUID, lease time.Duration, evs []store.NewEvent) ([]store.Claimed, error) {
	t0 := time.Now()
	defer func() { t.upsert += time.Since(t0) }()
	return t.Store.ClaimEvents(ctx, token, lease, evs)
}

func (t *timedStore) RecordBatch(ctx context.Context, b store.Batch, decide func(store.BatchState) store.Plan) (store.BatchOutcome, error) {
	t0 := time.Now()
	defer func() { t.record += time.Since(t0) }()
	return t.Store.RecordBatch(ctx, b, decide)
}

type benchEnv struct {
	st       *timedStore
	bus      *bus.Bus
	consumer jetstream.Consumer
	w        *Worker
	seq      int
}

func benchSetup(b *testing.B) *benchEnv {
	b.Helper()
	st, _ := testenv.Store(b)
	ns := testenv.NATS(b)
	ctx := context.Background()
	bs, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bs.Close)
	if err := bs.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		b.Fatal(err)
	}
	consumer, err := bs.EnsureConsumer(ctx, bus.ConsumerOptions{Vendor: "liasmart", AckWait: time.Minute, MaxAckPending: 4 * benchBatch})
	if err != nil {
		b.Fatal(err)
	}
	ts := &timedStore{Store: st}
	w := NewWorker(Config{
		Confirmers: map[string]Confirmer{"liasmart": benchConfirmer{}},
		// As relay serve configures it by default.
		Concurrency: 256, Batch: benchBatch, AckWait: time.Minute, Logger: quietLogger(),
	}, ts, bs.JS, consumer)
	return &benchEnv{st: ts, bus: bs, consumer: consumer, w: w}
}

// fetch publishes n new registrations as ingest does and fetches them
// from the workers' consumer.
func (e *benchEnv) fetch(b *testing.B, n int) []jetstream.Msg {
	b.Helper()
	occurred := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	for range n {
		e.seq++
		mid := "bench-" + strconv.Itoa(e.seq)
		id := testEventID(mid)
		data, _ := json.Marshal(bus.Registration{ID: id, Vendor: "liasmart", MessageID: mid, OccurredAt: &occurred,
			Metadata: json.RawMessage(`{"app":"signup","campaign":"bench"}`), APIKey: "bench", ReceivedAt: time.Now().UTC()})
		if _, err := e.bus.JS.PublishAsync(bus.RegistrationSubject("liasmart"), data, jetstream.WithMsgID(id)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-e.bus.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		b.Fatal("publish acks missing")
	}
	msgs := make([]jetstream.Msg, 0, n)
	for len(msgs) < n {
		batch, err := e.consumer.Fetch(n-len(msgs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil {
			b.Fatal(err)
		}
	}
	return msgs
}

// testEventID is ingest's id (inbound.EventID) of a liasmart message.
func testEventID(messageID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+messageID)).String()
}

// BenchmarkWorkerBatch is one whole worker batch of new events with an
// instant vendor: decode, UpsertEvents, the calls, RecordResults, the
// outcome publishes and the acks, against real PostgreSQL and NATS. What
// it costs per event bounds the worker's throughput whatever the vendor's
// latency. upsert-ms and record-ms are the batch's time in the two
// statements; the rest of ns/op is decoding, the goroutines of the calls,
// the outcome publishes (waiting for their acks) and the acks.
func BenchmarkWorkerBatch(b *testing.B) {
	e := benchSetup(b)
	ctx := context.Background()
	b.Run("msgs=500", func(b *testing.B) {
		e.st.upsert, e.st.record = 0, 0
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			msgs := e.fetch(b, benchBatch)
			b.StartTimer()
			e.w.process(ctx, msgs)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/event")
		b.ReportMetric(float64(e.st.upsert.Microseconds())/1000/float64(b.N), "upsert-ms/op")
		b.ReportMetric(float64(e.st.record.Microseconds())/1000/float64(b.N), "record-ms/op")
	})
}

// BenchmarkWorkerDecode is the worker's parsing of a batch's payloads.
func BenchmarkWorkerDecode(b *testing.B) {
	e := benchSetup(b)
	msgs := e.fetch(b, benchBatch)
	b.Run("msgs=500", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			items, order := e.w.decode(msgs)
			if len(items) != benchBatch || len(order) != benchBatch {
				b.Fatal("decode lost messages")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/event")
	})
}
