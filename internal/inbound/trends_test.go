package inbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/ops"
	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

// trendsEnv is an admin server whose operations clock stands at now, with
// one vendor call recorded (as the worker records it) per entry of calls.
func trendsEnv(t *testing.T, now time.Time, calls []store.Attempt) *env {
	t.Helper()
	st, _ := testenv.Store(t)
	e := newEnv(t, st, func(c *inbound.Config) { c.AdminToken = adminToken })
	e.srv.SetAdmin(ops.New(ops.Config{Store: st, JS: e.js, Logger: quietLogger(), Now: func() time.Time { return now }}))
	ctx := context.Background()
	for i, c := range calls {
		id := inbound.EventID("liasmart", fmt.Sprintf("t-%d", i))
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: fmt.Sprintf("t-%d", i)}}); err != nil {
			t.Fatal(err)
		}
		c.EventID, c.Attempt = id, 1
		state := store.StateRetrying
		if c.Outcome == "confirmed" || c.Outcome == "already_confirmed" {
			state = store.State(c.Outcome)
		}
		if _, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: id, State: state, SpendsBudget: true, Call: &c}}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// trendsBody is the answer as JSON says it: latencies may be null.
type trendsBody struct {
	BucketSeconds int    `json:"bucket_seconds"`
	From          string `json:"from"`
	To            string `json:"to"`
	Points        []struct {
		At               string   `json:"at"`
		Confirmed        int64    `json:"confirmed"`
		AlreadyConfirmed int64    `json:"already_confirmed"`
		Failures         int64    `json:"failures"`
		Calls            int64    `json:"calls"`
		P50              *float64 `json:"latency_ms_p50"`
		P95              *float64 `json:"latency_ms_p95"`
	} `json:"points"`
}

func getTrends(t *testing.T, e *env, query string) trendsBody {
	t.Helper()
	resp, body := e.do(t, "GET", "/admin/v1/trends"+query, nil, adminAuth)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/v1/trends%s: %d %s", query, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	// Every point carries both latency keys, null when the minute had no call.
	var raw struct {
		Points []map[string]json.RawMessage `json:"points"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for i, p := range raw.Points {
		for _, k := range []string{"at", "confirmed", "already_confirmed", "failures", "calls", "latency_ms_p50", "latency_ms_p95"} {
			if _, ok := p[k]; !ok {
				t.Fatalf("point %d has no %q: %s", i, k, body)
			}
		}
		if len(p) != 7 {
			t.Fatalf("point %d has keys beyond the contract: %s", i, body)
		}
	}
	var tr trendsBody
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestAdminTrendsCountsCallsPerMinute(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 10, 30, 45, 0, time.UTC)
	at := func(hhmmss string) time.Time {
		tm, err := time.Parse(time.TimeOnly, hhmmss)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 11, 29, tm.Hour(), tm.Minute(), tm.Second(), 0, time.UTC)
	}
	e := trendsEnv(t, now, []store.Attempt{
		{StartedAt: at("10:26:59"), Duration: 40 * time.Millisecond, Outcome: "confirmed"},
		{StartedAt: at("10:28:10"), Duration: 100 * time.Millisecond, Outcome: "confirmed"},
		{StartedAt: at("10:28:50"), Duration: 300 * time.Millisecond, Outcome: "retry"},
		{StartedAt: at("10:30:01"), Duration: 50 * time.Millisecond, Outcome: "already_confirmed"},
		{StartedAt: at("10:30:02"), Duration: 70 * time.Millisecond, Outcome: "pause"},
	})

	tr := getTrends(t, e, "?minutes=3")
	if tr.BucketSeconds != 60 || tr.From != "2026-11-29T10:28:00Z" || tr.To != "2026-11-29T10:31:00Z" || len(tr.Points) != 3 {
		t.Fatalf("window: %+v", tr)
	}
	type want struct {
		at                                  string
		confirmed, already, failures, calls int64
		p50, p95                            float64 // -1: null
	}
	for i, w := range []want{
		{"2026-11-29T10:28:00Z", 1, 0, 1, 2, 200, 290},
		{"2026-11-29T10:29:00Z", 0, 0, 0, 0, -1, -1},
		{"2026-11-29T10:30:00Z", 0, 1, 1, 2, 60, 69},
	} {
		p := tr.Points[i]
		ms := func(v *float64) float64 {
			if v == nil {
				return -1
			}
			return *v
		}
		if p.At != w.at || p.Confirmed != w.confirmed || p.AlreadyConfirmed != w.already || p.Failures != w.failures ||
			p.Calls != w.calls || ms(p.P50) != w.p50 || ms(p.P95) != w.p95 {
			t.Errorf("point %d: %+v (p50 %v p95 %v), want %+v", i, p, ms(p.P50), ms(p.P95), w)
		}
	}

	// The default is the last hour; the current minute is the last point.
	tr = getTrends(t, e, "")
	if len(tr.Points) != 60 || tr.From != "2026-11-29T09:31:00Z" || tr.Points[59].At != "2026-11-29T10:30:00Z" {
		t.Fatalf("default window: from %s, %d points", tr.From, len(tr.Points))
	}
	var calls int64
	for _, p := range tr.Points {
		calls += p.Calls
	}
	if calls != 5 || tr.Points[55].At != "2026-11-29T10:26:00Z" || tr.Points[55].Confirmed != 1 {
		t.Errorf("last hour: %d calls, 10:26 point %+v", calls, tr.Points[55])
	}
	if tr = getTrends(t, e, "?minutes=1440"); len(tr.Points) != 1440 || tr.From != "2026-11-28T10:31:00Z" {
		t.Errorf("a day: from %s, %d points", tr.From, len(tr.Points))
	}
	if tr = getTrends(t, e, "?minutes=1"); len(tr.Points) != 1 || tr.Points[0].Calls != 2 {
		t.Errorf("one minute: %+v", tr)
	}
}

func TestAdminTrendsRefusesBadMinutesAndMissingToken(t *testing.T) {
	t.Parallel()
	e := trendsEnv(t, time.Now(), nil)
	for _, q := range []string{"0", "1441", "-5", "abc", "1.5", "60m", "99999999999999999999"} {
		resp, body := e.do(t, "GET", "/admin/v1/trends?minutes="+q, nil, adminAuth)
		checkProblem(t, resp, body, http.StatusUnprocessableEntity, "minutes")
	}
	for _, h := range []map[string]string{{}, {"Authorization": testBearer}, {"Authorization": "Bearer wrong"}} {
		resp, body := e.do(t, "GET", "/admin/v1/trends", nil, h)
		checkProblem(t, resp, body, http.StatusUnauthorized, "")
	}
	// No call recorded: the hour is there, all zeros.
	tr := getTrends(t, e, "?minutes=60")
	for i, p := range tr.Points {
		if p.Calls != 0 || p.P50 != nil || p.P95 != nil {
			t.Fatalf("point %d of an empty table: %+v", i, p)
		}
	}
}

func TestAdminTrendsWithoutServiceAnswers503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *inbound.Config) { c.AdminToken = adminToken })
	resp, body := e.do(t, "GET", "/admin/v1/trends", nil, adminAuth)
	checkProblem(t, resp, body, http.StatusServiceUnavailable, "")
}
