package ops_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/ops"
	"relay/internal/store"
	"relay/internal/testenv"
)

// TestVendorsStateRateAndLatency: every enabled vendor is listed in
// configuration order, whether it called or not; a paused vendor says
// why, one without credentials is not_configured whatever its pause row;
// calls per minute and latency count only the last five minutes' calls,
// of any replica (they are read from PostgreSQL), and a vendor that is
// not enabled is left out.
func TestVendorsStateRateAndLatency(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	event := map[string]uuid.UUID{}
	for _, v := range []string{"liasmart", "twilio", "vonage", "plivo"} {
		event[v] = uuid.New()
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: event[v], Vendor: v, MessageID: "m"}}); err != nil {
			t.Fatal(err)
		}
	}
	record := func(vendor string, ago time.Duration, ms float64) {
		t.Helper()
		if _, err := st.Pool().Exec(ctx,
			`INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome) VALUES ($1, 1, $2, $3, 'confirmed')`,
			event[vendor], now.Add(-ago), ms); err != nil {
			t.Fatal(err)
		}
	}
	record("liasmart", 6*time.Minute, 999) // too old
	for i := range 10 {
		record("liasmart", time.Duration(i)*20*time.Second+time.Second, float64(10*(i+1)))
	}
	record("twilio", time.Minute, 123.4567)
	record("plivo", time.Minute, 5) // not enabled
	if _, err := st.PauseVendor(ctx, "twilio", store.PauseUnavailable, "5 consecutive transient failures"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PauseVendor(ctx, "vonage", store.PauseCredentials, "401"); err != nil {
		t.Fatal(err)
	}
	svc := ops.New(ops.Config{Store: st, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
		Vendors: []string{"twilio", "liasmart", "vonage", "aws"}, Unconfigured: []string{"vonage"}})

	got, err := svc.Vendors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.WindowSeconds != 300 || !got.At.Equal(now) || len(got.Vendors) != 4 {
		t.Fatalf("got %+v", got)
	}
	p := func(f float64) *float64 { return &f }
	want := []ops.VendorView{
		{Vendor: "twilio", State: "paused", PauseKind: "unavailable", Reason: "5 consecutive transient failures",
			Calls: 1, CallsPerMinute: 0.2, LatencyP50: p(123.457), LatencyP95: p(123.457)},
		// p50 of 10..100 is 55; p95 is 90 + 0.55 x 10.
		{Vendor: "liasmart", State: "active", Calls: 10, CallsPerMinute: 2, LatencyP50: p(55), LatencyP95: p(95.5)},
		{Vendor: "vonage", State: "not_configured"},
		{Vendor: "aws", State: "active"},
	}
	for i, w := range want {
		g := got.Vendors[i]
		if g.Vendor != w.Vendor || g.State != w.State || g.PauseKind != w.PauseKind || g.Reason != w.Reason ||
			g.Calls != w.Calls || g.CallsPerMinute != w.CallsPerMinute || !same(g.LatencyP50, w.LatencyP50) || !same(g.LatencyP95, w.LatencyP95) {
			t.Errorf("vendor %d:\n got %s\nwant %s", i, show(g), show(w))
		}
	}
	if got.Vendors[0].PausedAt == nil {
		t.Error("a paused vendor has no paused_at")
	}

	stats, err := svc.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.VendorWindowSeconds != 300 || len(stats.EnabledVendors) != 4 || show(stats.EnabledVendors[1]) != show(got.Vendors[1]) {
		t.Errorf("stats' enabled vendors differ from Vendors: %+v", stats.EnabledVendors)
	}
}

func same(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func show(v ops.VendorView) string {
	f := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return fmt.Sprintf("%s %s %s %q calls=%d/%v p50=%v p95=%v", v.Vendor, v.State, v.PauseKind, v.Reason, v.Calls, v.CallsPerMinute, f(v.LatencyP50), f(v.LatencyP95))
}
