package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/store"
	"relay/internal/testenv"
)

// trendsEvent records the event every call of a trends test belongs to.
func trendsEvent(t *testing.T, st *store.Store) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := st.UpsertEvents(context.Background(), nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "trends"}}); err != nil {
		t.Fatal(err)
	}
	return id
}

type call struct {
	at      time.Time
	ms      float64
	outcome string
}

// recordCalls writes the calls as attempt rows, with exact started_at and
// duration_ms (RecordResults would also move the event's state).
func recordCalls(t *testing.T, st *store.Store, event uuid.UUID, calls []call) {
	t.Helper()
	for i, c := range calls {
		if _, err := st.Pool().Exec(context.Background(),
			`INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome) VALUES ($1, $2, $3, $4, $5)`,
			event, i+1, c.at, c.ms, c.outcome); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr(f float64) *float64 { return &f }

func TestAttemptTrendsBucketsByMinute(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	event := trendsEvent(t, st)
	from := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	at := func(min, sec, micro int) time.Time {
		return from.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second + time.Duration(micro)*time.Microsecond)
	}
	recordCalls(t, st, event, []call{
		{at(-1, 59, 999999), 1, "confirmed"}, // before the window
		{at(0, 0, 0), 10, "confirmed"},       // the first instant of bucket 0
		{at(0, 15, 0), 20, "confirmed"},
		{at(0, 30, 0), 30, "retry"},
		{at(0, 59, 999999), 40, "fail"},
		// bucket 1: no call
		{at(2, 0, 0), 5, "pause"},
		{at(2, 59, 999999), 100, "already_confirmed"},
		// bucket 3: no call
		{at(4, 30, 0), 7, "confirmed"},
		{at(5, 0, 0), 1, "confirmed"}, // the first instant after the window
	})

	got, err := st.AttemptTrends(context.Background(), from, 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.TrendBucket{
		// percentile_cont interpolates: p50 of 10,20,30,40 is 25, p95 is
		// 30 + 0.85 x 10.
		{At: at(0, 0, 0), Calls: 4, Confirmed: 2, Failures: 2, LatencyP50: ptr(25), LatencyP95: ptr(38.5)},
		{At: at(1, 0, 0)},
		{At: at(2, 0, 0), Calls: 2, AlreadyConfirmed: 1, Failures: 1, LatencyP50: ptr(52.5), LatencyP95: ptr(95.25)},
		{At: at(3, 0, 0)},
		{At: at(4, 0, 0), Calls: 1, Confirmed: 1, LatencyP50: ptr(7), LatencyP95: ptr(7)},
	}
	if len(got) != len(want) {
		t.Fatalf("%d buckets, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if !g.At.Equal(w.At) || g.Calls != w.Calls || g.Confirmed != w.Confirmed || g.AlreadyConfirmed != w.AlreadyConfirmed ||
			g.Failures != w.Failures || !sameMS(g.LatencyP50, w.LatencyP50) || !sameMS(g.LatencyP95, w.LatencyP95) {
			t.Errorf("bucket %d:\n got %s\nwant %s", i, show(g), show(w))
		}
	}
}

// TestAttemptTrendsUnalignedStart: buckets start at from, whatever its
// second; width other than a minute works the same.
func TestAttemptTrendsUnalignedStart(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	event := trendsEvent(t, st)
	from := time.Date(2026, 11, 29, 10, 0, 30, 0, time.UTC)
	recordCalls(t, st, event, []call{
		{from.Add(-time.Microsecond), 1, "confirmed"},
		{from.Add(29 * time.Second), 3, "confirmed"},
		{from.Add(30 * time.Second), 9, "fail"},
	})
	got, err := st.AttemptTrends(context.Background(), from, 2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].At.Equal(from) || got[0].Calls != 1 || got[0].Confirmed != 1 ||
		!got[1].At.Equal(from.Add(30*time.Second)) || got[1].Calls != 1 || got[1].Failures != 1 || !sameMS(got[1].LatencyP95, ptr(9)) {
		t.Fatalf("got %s | %s", show(got[0]), show(got[1]))
	}
	if _, err := st.AttemptTrends(context.Background(), from, 0, time.Minute); err == nil {
		t.Error("0 buckets accepted")
	}
}

// TestAttemptTrendsUsesTheStartedIndex fills attempts with 100,000 calls
// over ten days and checks that the planner reads the last hour through
// attempts_started_idx rather than scanning the table.
func TestAttemptTrendsUsesTheStartedIndex(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ctx := context.Background()
	event := trendsEvent(t, st)
	now := time.Now().UTC().Truncate(time.Minute)
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome)
		SELECT $1, i, $2::timestamptz - i * interval '8.64 seconds', 20 + i % 200,
		       (ARRAY['confirmed', 'already_confirmed', 'retry', 'fail', 'pause'])[1 + i % 5]
		FROM generate_series(1, 100000) AS i`, event, now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `ANALYZE attempts`); err != nil {
		t.Fatal(err)
	}
	from := now.Add(-59 * time.Minute)
	var plan []map[string]any
	if err := st.Pool().QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+store.TrendsSQL, from, 60, 60.0).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.MarshalIndent(plan, "", " ")
	if !strings.Contains(string(raw), `"Index Name": "attempts_started_idx"`) {
		t.Fatalf("the trends query does not use attempts_started_idx:\n%s", raw)
	}
	if strings.Contains(string(raw), `"Node Type": "Seq Scan"`) {
		t.Errorf("the trends query scans a table:\n%s", raw)
	}
	got, err := st.AttemptTrends(ctx, from, 60, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var calls int64
	for _, b := range got {
		calls += b.Calls
	}
	// One call every 8.64 s, from 8.64 s before now back: 59 minutes hold
	// 409 of them (the 60th minute, now's, is empty).
	if calls != 409 {
		t.Errorf("%d calls in the last hour, want 409", calls)
	}
}

func sameMS(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	d := *a - *b
	return d < 1e-9 && d > -1e-9
}

func show(b store.TrendBucket) string {
	f := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	out, _ := json.Marshal(map[string]any{"at": b.At.UTC(), "calls": b.Calls, "confirmed": b.Confirmed,
		"already": b.AlreadyConfirmed, "failures": b.Failures, "p50": f(b.LatencyP50), "p95": f(b.LatencyP95)})
	return string(out)
}
