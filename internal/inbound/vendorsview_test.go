package inbound_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/ops"
	"relay/internal/store"
	"relay/internal/testenv"
)

// TestAdminStatsShowsEachEnabledVendor: /admin/v1/stats lists every
// enabled vendor with its state (active, paused with its kind,
// not_configured), its calls per minute and latency over five minutes,
// as the OpenAPI document says (e.do checks the answer against it).
func TestAdminStatsShowsEachEnabledVendor(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	now := time.Now().UTC()
	e := newEnv(t, st, func(c *inbound.Config) { c.AdminToken = adminToken })
	e.srv.SetAdmin(ops.New(ops.Config{Store: st, JS: e.js, Logger: quietLogger(), Now: func() time.Time { return now },
		Vendors: []string{"liasmart", "twilio", "vonage"}, Unconfigured: []string{"vonage"}}))
	ctx := context.Background()
	id := inbound.EventID("liasmart", "v-1")
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "v-1"}}); err != nil {
		t.Fatal(err)
	}
	for i, ms := range []float64{100, 200, 300, 400, 500} {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome) VALUES ($1, $2, $3, $4, 'retry')`,
			id, i+1, now.Add(-time.Duration(i+1)*time.Second), ms); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PauseVendor(ctx, "twilio", store.PauseCredentials, "HTTP 401"); err != nil {
		t.Fatal(err)
	}

	resp, body := e.do(t, "GET", "/admin/v1/stats", nil, adminAuth)
	var stats struct {
		EnabledVendors []map[string]any `json:"enabled_vendors"`
		Window         int              `json:"vendor_window_seconds"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &stats) != nil {
		t.Fatalf("stats: %d %s", resp.StatusCode, body)
	}
	if stats.Window != 300 || len(stats.EnabledVendors) != 3 {
		t.Fatalf("stats: %s", body)
	}
	want := []map[string]any{
		{"vendor": "liasmart", "state": "active", "calls": 5.0, "calls_per_minute": 1.0, "latency_ms_p50": 300.0, "latency_ms_p95": 480.0},
		{"vendor": "twilio", "state": "paused", "pause_kind": "credentials", "reason": "HTTP 401", "calls": 0.0, "calls_per_minute": 0.0, "latency_ms_p50": nil, "latency_ms_p95": nil},
		{"vendor": "vonage", "state": "not_configured", "calls": 0.0, "calls_per_minute": 0.0, "latency_ms_p50": nil, "latency_ms_p95": nil},
	}
	for i, w := range want {
		g := stats.EnabledVendors[i]
		delete(g, "paused_at")
		if len(g) != len(w) {
			t.Errorf("vendor %d: %v, want %v", i, g, w)
			continue
		}
		for k, v := range w {
			if g[k] != v {
				t.Errorf("vendor %d %s: %v, want %v", i, k, g[k], v)
			}
		}
	}
}
