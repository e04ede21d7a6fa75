package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

// benchRows is the size of a worker batch (RELAY_WORKER_BATCH's default).
const benchRows = 500

var benchSeq int

// benchEvents returns n events never used before in this process.
func benchEvents(n int) []store.NewEvent {
	occurred := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	evs := make([]store.NewEvent, n)
	for i := range evs {
		benchSeq++
		mid := "bench-" + strconv.Itoa(benchSeq)
		evs[i] = store.NewEvent{
			ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+mid)), Vendor: "liasmart", MessageID: mid,
			OccurredAt: &occurred, Metadata: json.RawMessage(`{"app":"signup","campaign":"bench"}`), APIKey: "bench",
		}
	}
	return evs
}

// benchResults are the confirmations of evs, each with its vendor call,
// as the worker records them.
func benchResults(evs []store.NewEvent) []store.Result {
	now := time.Now()
	code, status := 1000, 200
	out := make([]store.Result, len(evs))
	for i, e := range evs {
		out[i] = store.Result{EventID: e.ID, State: store.StateConfirmed, SpendsBudget: true,
			Call: &store.Attempt{CallID: uuid.New(), EventID: e.ID, Attempt: 1, StartedAt: now, Duration: 20 * time.Millisecond,
				HTTPStatus: &status, VendorCode: &code, Outcome: "confirmed"}}
	}
	return out
}

func perRow(b *testing.B, rows int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkUpsertEvents is the worker's first statement for a batch: new
// events (the common case) and events already recorded (redeliveries).
// The table grows by benchRows rows per iteration of "new".
func BenchmarkUpsertEvents(b *testing.B) {
	st, _ := testenv.Store(b)
	ctx := context.Background()
	b.Run("rows=500/new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			evs := benchEvents(benchRows)
			b.StartTimer()
			got, err := st.UpsertEvents(ctx, nil, evs)
			if err != nil || len(got) != benchRows {
				b.Fatalf("upsert: %d rows, %v", len(got), err)
			}
		}
		perRow(b, benchRows)
	})
	b.Run("rows=500/existing", func(b *testing.B) {
		evs := benchEvents(benchRows)
		if _, err := st.UpsertEvents(ctx, nil, evs); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			got, err := st.UpsertEvents(ctx, nil, evs)
			if err != nil || len(got) != benchRows {
				b.Fatalf("upsert: %d rows, %v", len(got), err)
			}
		}
		perRow(b, benchRows)
	})
}

// BenchmarkRecordResults is the worker's batch transaction after the
// vendor calls: CopyFrom of the attempts and the state update, for
// benchRows pending events confirmed at once.
func BenchmarkRecordResults(b *testing.B) {
	st, _ := testenv.Store(b)
	ctx := context.Background()
	b.Run("rows=500", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			evs := benchEvents(benchRows)
			if _, err := st.UpsertEvents(ctx, nil, evs); err != nil {
				b.Fatal(err)
			}
			results := benchResults(evs)
			b.StartTimer()
			got, err := outbound.RecordResults(ctx, st, results)
			if err != nil || len(got) != benchRows {
				b.Fatalf("record: %d rows, %v", len(got), err)
			}
		}
		perRow(b, benchRows)
	})
}

// BenchmarkKnownIDs is ingest's duplicate lookup: one id per single-event
// request, a batch's ids per batch request.
func BenchmarkKnownIDs(b *testing.B) {
	st, _ := testenv.Store(b)
	ctx := context.Background()
	evs := benchEvents(1000)
	if _, err := st.UpsertEvents(ctx, nil, evs); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100} {
		b.Run("ids="+strconv.Itoa(n), func(b *testing.B) {
			ids := make([]uuid.UUID, n)
			for i := range ids {
				ids[i] = evs[i].ID
			}
			b.ReportAllocs()
			for b.Loop() {
				known, err := st.KnownIDs(ctx, ids)
				if err != nil || len(known) != n {
					b.Fatalf("known: %d, %v", len(known), err)
				}
			}
		})
	}
}
