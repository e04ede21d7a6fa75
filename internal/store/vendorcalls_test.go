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

// TestVendorCallStatsGroupsByTheEventsVendor: calls count for the vendor
// of their event, only those started in [from, to), with exact
// percentiles; a vendor without a call in the window has no row.
func TestVendorCallStatsGroupsByTheEventsVendor(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ctx := context.Background()
	to := time.Date(2026, 11, 29, 10, 5, 0, 0, time.UTC)
	from := to.Add(-5 * time.Minute)
	events := map[string]uuid.UUID{}
	for _, v := range []string{"liasmart", "twilio", "vonage"} {
		events[v] = uuid.New()
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: events[v], Vendor: v, MessageID: "calls"}}); err != nil {
			t.Fatal(err)
		}
	}
	calls := []struct {
		vendor string
		at     time.Time
		ms     float64
	}{
		{"liasmart", from.Add(-time.Microsecond), 1000}, // before the window
		{"liasmart", from, 10},                          // its first instant
		{"liasmart", from.Add(time.Minute), 20},
		{"liasmart", from.Add(2 * time.Minute), 30},
		{"liasmart", to.Add(-time.Microsecond), 40},
		{"liasmart", to, 1000}, // the first instant after it
		{"twilio", from.Add(3 * time.Minute), 7},
		{"vonage", to.Add(time.Minute), 5}, // only outside the window
	}
	for i, c := range calls {
		if _, err := st.Pool().Exec(ctx,
			`INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome) VALUES ($1, $2, $3, $4, 'confirmed')`,
			events[c.vendor], i+1, c.at, c.ms); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.VendorCallStats(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	// percentile_cont interpolates: p50 of 10,20,30,40 is 25, p95 is
	// 30 + 0.85 x 10.
	want := []store.VendorCalls{
		{Vendor: "liasmart", Calls: 4, LatencyP50: 25, LatencyP95: 38.5},
		{Vendor: "twilio", Calls: 1, LatencyP50: 7, LatencyP95: 7},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Vendor != w.Vendor || g.Calls != w.Calls || !sameMS(&g.LatencyP50, &w.LatencyP50) || !sameMS(&g.LatencyP95, &w.LatencyP95) {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
	}
}

// TestVendorCallStatsUsesTheStartedIndex: on 100,000 calls of 100,000
// events of eight vendors over ten days, the five-minute window is read
// through attempts_started_idx and each call's event by its primary key:
// no table is scanned. The plan's cost is logged.
func TestVendorCallStatsUsesTheStartedIndex(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO events (id, vendor, message_id, state)
		SELECT gen_random_uuid(), (ARRAY['liasmart', 'twilio', 'vonage', 'aws', 'telesign', 'plivo', 'tencent', 'alibaba'])[1 + i % 8],
		       'plan-' || i, 'confirmed'
		FROM generate_series(1, 100000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome)
		SELECT id, 1, $1::timestamptz - (row_number() OVER (ORDER BY message_id)) * interval '8.64 seconds', 20 + length(message_id), 'confirmed'
		FROM events`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `ANALYZE attempts; ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	from := now.Add(-5 * time.Minute)
	var plan []map[string]any
	if err := st.Pool().QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+store.VendorCallsSQL, from, now).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.MarshalIndent(plan, "", " ")
	if !strings.Contains(string(raw), `"Index Name": "attempts_started_idx"`) {
		t.Fatalf("the vendor-calls query does not use attempts_started_idx:\n%s", raw)
	}
	if strings.Contains(string(raw), `"Node Type": "Seq Scan"`) {
		t.Errorf("the vendor-calls query scans a table:\n%s", raw)
	}
	if len(plan) == 1 {
		if p, ok := plan[0]["Plan"].(map[string]any); ok {
			t.Logf("plan cost %v, shared buffers hit %v read %v", p["Total Cost"], p["Shared Hit Blocks"], p["Shared Read Blocks"])
		}
	}
	got, err := st.VendorCallStats(ctx, from, now)
	if err != nil {
		t.Fatal(err)
	}
	var calls int64
	for _, v := range got {
		calls += v.Calls
	}
	// One call every 8.64 s, from 8.64 s before now back: five minutes
	// hold 34 of them.
	if calls != 34 || len(got) != 8 {
		t.Errorf("%d calls of %d vendors in five minutes, want 34 of 8: %+v", calls, len(got), got)
	}
}
