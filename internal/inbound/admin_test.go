package inbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/inbound"
	"relay/internal/ops"
	"relay/internal/outbound"
	"relay/internal/outbox"
	"relay/internal/store"
	"relay/internal/testenv"
)

const adminToken = "admin-secret-0123456789"

var adminAuth = map[string]string{"Authorization": "Bearer " + adminToken}

// adminEnv is a server with the admin API on, backed by the real
// operations service on a fresh database.
func adminEnv(t *testing.T) (*env, *store.Store) {
	t.Helper()
	st, _ := testenv.Store(t)
	e := newEnv(t, st, func(c *inbound.Config) { c.AdminToken = adminToken })
	e.srv.SetAdmin(ops.New(ops.Config{Store: st, JS: e.js, Logger: quietLogger()}))
	return e, st
}

func adminHeaders(extra map[string]string) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + adminToken}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// seed records n events message ids m-0..m-(n-1), one per millisecond of
// created_at order, and fails the ones for which failed(i) holds with one
// recorded 503 attempt.
func seed(t *testing.T, st *store.Store, n int, failed func(i int) bool) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	ids := make([]uuid.UUID, n)
	for i := range n {
		ids[i] = inbound.EventID("liasmart", fmt.Sprintf("m-%d", i))
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: ids[i], Vendor: "liasmart", MessageID: fmt.Sprintf("m-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var results []store.Result
	for i, id := range ids {
		if !failed(i) {
			continue
		}
		status := 503
		code := 1008
		results = append(results, store.Result{EventID: id, State: store.StateFailed, SpendsBudget: true, LastError: "vendor code 1008: Invalid message_id",
			Call: &store.Attempt{EventID: id, Attempt: 1, StartedAt: time.Now(), Duration: 12 * time.Millisecond,
				HTTPStatus: &status, VendorCode: &code, Outcome: "fail", Error: "vendor code 1008: Invalid message_id"}})
	}
	if _, err := outbound.RecordResults(ctx, st, results); err != nil {
		t.Fatal(err)
	}
	return ids
}

type listBody struct {
	Items      []inbound.EventView `json:"items"`
	NextCursor string              `json:"next_cursor"`
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	for _, path := range []string{"/admin/v1/stats", "/admin/v1/registrations", "/admin/", "/admin/assets/console.js"} {
		resp, body := e.do(t, "GET", path, nil, map[string]string{"Authorization": "Bearer anything"})
		checkProblem(t, resp, body, http.StatusNotFound, "")
	}
}

func TestAdminRefusesIngestKeyAndMissingToken(t *testing.T) {
	t.Parallel()
	e, _ := adminEnv(t)
	for _, h := range []map[string]string{{"Authorization": testBearer}, {}, {"Authorization": "Bearer wrong"}} {
		resp, body := e.do(t, "GET", "/admin/v1/stats", nil, h)
		checkProblem(t, resp, body, http.StatusUnauthorized, "")
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
	resp, body := e.do(t, "POST", "/v1/registrations", []byte(event("x")), adminHeaders(map[string]string{"Content-Type": "application/json"}))
	checkProblem(t, resp, body, http.StatusUnauthorized, "")
	resp, _ = e.do(t, "GET", "/admin/v1/stats", nil, adminAuth)
	if resp.StatusCode != 200 {
		t.Errorf("admin token: %d", resp.StatusCode)
	}
}

func TestAdminWithoutServiceAnswers503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *inbound.Config) { c.AdminToken = adminToken })
	resp, body := e.do(t, "GET", "/admin/v1/stats", nil, adminAuth)
	checkProblem(t, resp, body, http.StatusServiceUnavailable, "")
}

func TestConsoleServedAsStaticFiles(t *testing.T) {
	t.Parallel()
	e, _ := adminEnv(t)
	// The console's own files are public: the data needs the token.
	resp, _ := e.do(t, "GET", "/admin", nil, nil)
	if resp.StatusCode != 200 {
		t.Errorf("GET /admin: %d", resp.StatusCode)
	}
	resp, body := e.do(t, "GET", "/admin/", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), "/admin/assets/console.js") {
		t.Fatalf("GET /admin/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	for path, ctype := range map[string]string{"/admin/assets/console.js": "text/javascript", "/admin/assets/console.css": "text/css"} {
		resp, body := e.do(t, "GET", path, nil, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s: %d %q %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s without nosniff", path)
		}
	}
	for _, path := range []string{"/admin/assets/nope.js", "/admin/assets/../index.html", "/admin/assets/%2e%2e/console.go", "/admin/assets/"} {
		resp, body := e.do(t, "GET", path, nil, nil)
		checkProblem(t, resp, body, http.StatusNotFound, "")
	}
	// Never does the console put the token in a URL.
	_, js := e.do(t, "GET", "/admin/assets/console.js", nil, nil)
	if !strings.Contains(string(js), "sessionStorage") || strings.Contains(string(js), "localStorage") || strings.Contains(string(js), "?token") {
		t.Error("console.js must keep the token in sessionStorage only")
	}
}

func TestAdminListingPagesAndFilters(t *testing.T) {
	t.Parallel()
	e, st := adminEnv(t)
	ids := seed(t, st, 5, func(i int) bool { return i%2 == 0 }) // m-0, m-2, m-4 failed

	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		q := url.Values{"limit": {"2"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		resp, body := e.do(t, "GET", "/admin/v1/registrations?"+q.Encode(), nil, adminAuth)
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: %d %s", page, resp.StatusCode, body)
		}
		var l listBody
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		if page < 2 && (len(l.Items) != 2 || l.NextCursor == "") || page == 2 && (len(l.Items) != 1 || l.NextCursor != "") {
			t.Fatalf("page %d: %d items, cursor %q", page, len(l.Items), l.NextCursor)
		}
		for _, it := range l.Items {
			seen = append(seen, it.ID)
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d events, want 5", len(seen))
	}
	for i, id := range ids {
		if seen[i] != id.String() {
			t.Errorf("item %d is %s, want %s (created_at order)", i, seen[i], id)
		}
	}

	count := func(query string) int {
		t.Helper()
		resp, body := e.do(t, "GET", "/admin/v1/registrations?"+query, nil, adminAuth)
		if resp.StatusCode != 200 {
			t.Fatalf("?%s: %d %s", query, resp.StatusCode, body)
		}
		var l listBody
		_ = json.Unmarshal(body, &l)
		for _, it := range l.Items {
			if it.CreatedAt.IsZero() || it.Vendor != "liasmart" {
				t.Errorf("item lacks fields: %+v", it)
			}
		}
		return len(l.Items)
	}
	for query, want := range map[string]int{
		"state=failed":                  3,
		"state=failed,pending":          5,
		"state=confirmed":               0,
		"vendor=liasmart&state=pending": 2,
		"vendor=other":                  0,
		"message_id=m-3":                1,
		"since=1h":                      5,
		"until=1h":                      0,
		"since=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)): 0,
	} {
		if got := count(query); got != want {
			t.Errorf("?%s: %d items, want %d", query, got, want)
		}
	}

	for query, field := range map[string]string{
		"state=bogus":             "state",
		"state=failed,,":          "state",
		"limit=0":                 "limit",
		"limit=1001":              "limit",
		"limit=ten":               "limit",
		"since=yesterday":         "since",
		"until=-5m":               "until",
		"cursor=bm90LWEtY3Vyc29y": "cursor",
		"since=1h&until=2h":       "until",
		"message_id=" + url.QueryEscape("has space"): "message_id",
	} {
		resp, body := e.do(t, "GET", "/admin/v1/registrations?"+query, nil, adminAuth)
		checkProblem(t, resp, body, http.StatusUnprocessableEntity, field)
	}
}

func TestAdminStatsAndAttempts(t *testing.T) {
	t.Parallel()
	e, st := adminEnv(t)
	ids := seed(t, st, 3, func(i int) bool { return i == 1 })

	resp, body := e.do(t, "GET", "/admin/v1/stats", nil, adminAuth)
	var stats ops.Stats
	if resp.StatusCode != 200 || json.Unmarshal(body, &stats) != nil {
		t.Fatalf("stats: %d %s", resp.StatusCode, body)
	}
	if stats.Total != 3 || stats.ByState["failed"] != 1 || stats.ByState["pending"] != 2 || stats.ByState["confirmed"] != 0 ||
		stats.ByVendor["liasmart"]["failed"] != 1 {
		t.Errorf("stats %+v", stats)
	}

	resp, body = e.do(t, "GET", "/admin/v1/attempts/"+ids[1].String(), nil, adminAuth)
	var att struct {
		Event    inbound.EventView `json:"event"`
		Attempts []ops.AttemptView `json:"attempts"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &att) != nil {
		t.Fatalf("attempts: %d %s", resp.StatusCode, body)
	}
	if att.Event.ID != ids[1].String() || len(att.Attempts) != 1 {
		t.Fatalf("attempts %+v", att)
	}
	a := att.Attempts[0]
	if a.VendorMeaning != "Invalid message_id" || *a.HTTPStatus != 503 || a.DurationMS != 12 || a.Outcome != "fail" || a.Time.IsZero() {
		t.Errorf("attempt %+v", a)
	}
	// vendor:message_id works too, like `relay status`.
	resp, _ = e.do(t, "GET", "/admin/v1/attempts/liasmart:m-1", nil, adminAuth)
	if resp.StatusCode != 200 {
		t.Errorf("attempts by vendor:message_id: %d", resp.StatusCode)
	}
	for _, ref := range []string{uuid.NewString(), "not-an-id", "liasmart:never"} {
		resp, body := e.do(t, "GET", "/admin/v1/attempts/"+ref, nil, adminAuth)
		checkProblem(t, resp, body, http.StatusNotFound, "")
	}
}

func TestAdminReplayRejectsBadRequests(t *testing.T) {
	t.Parallel()
	e, st := adminEnv(t)
	ids := seed(t, st, 1, func(int) bool { return true })
	msgs := e.msgs(t)
	jsonHdr := adminHeaders(map[string]string{"Content-Type": "application/json"})

	resp, body := e.do(t, "POST", "/admin/v1/replays", []byte(`{"ids":[]}`), adminAuth)
	checkProblem(t, resp, body, http.StatusUnsupportedMediaType, "")
	resp, body = e.do(t, "POST", "/admin/v1/replays", []byte(`{"ids":[`), jsonHdr)
	checkProblem(t, resp, body, http.StatusBadRequest, "")

	many := make([]string, ops.MaxReplayIDs+1)
	for i := range many {
		many[i] = `"` + uuid.NewString() + `"`
	}
	for req, field := range map[string]string{
		`{}`:               "ids",
		`{"ids":[]}`:       "ids",
		`{"ids":"x"}`:      "ids",
		`{"ids":["nope"]}`: "ids[0]",
		`{"ids":[` + strings.Join(many, ",") + `]}`: "ids",
		`{"filter":{}}`:               "filter",
		`{"filter":{"state":"gone"}}`: "filter.state",
		`{"filter":{"state":5}}`:      "filter.state",
		`{"filter":{"since":"soon"}}`: "filter.since",
		`{"ids":["` + ids[0].String() + `"],"filter":{"state":"failed"}}`: "filter",
		`{"ids":["` + ids[0].String() + `"],"dry_run":"yes"}`:             "dry_run",
		`[1]`: "(body)",
	} {
		resp, body := e.do(t, "POST", "/admin/v1/replays", []byte(req), jsonHdr)
		checkProblem(t, resp, body, http.StatusUnprocessableEntity, field)
	}
	long := adminHeaders(map[string]string{"Content-Type": "application/json", "Idempotency-Key": strings.Repeat("k", 256)})
	resp, body = e.do(t, "POST", "/admin/v1/replays", []byte(`{"ids":["`+ids[0].String()+`"]}`), long)
	checkProblem(t, resp, body, http.StatusUnprocessableEntity, "Idempotency-Key")

	if got := e.msgs(t); got != msgs {
		t.Errorf("refused requests published %d messages", got-msgs)
	}
	if ev, _ := st.Event(context.Background(), ids[0]); ev.State != store.StateFailed {
		t.Errorf("refused requests changed the event: %s", ev.State)
	}
}

func TestAdminReplayListing(t *testing.T) {
	t.Parallel()
	e, st := adminEnv(t)
	ids := seed(t, st, 2, func(int) bool { return true })
	jsonHdr := adminHeaders(map[string]string{"Content-Type": "application/json", "X-Relay-Actor": "cli:bob"})
	resp, body := e.do(t, "POST", "/admin/v1/replays", []byte(`{"filter":{"state":["failed"]},"dry_run":true}`), jsonHdr)
	if resp.StatusCode != 200 {
		t.Fatalf("dry run: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/admin/v1/replays", []byte(`{"ids":["`+ids[1].String()+`"]}`), jsonHdr)
	var res ops.ReplayResult
	if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil || res.Replayed != 1 {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
	// The replayed event starts over: pending, budget unspent, history and
	// attempts kept, and its message is on the stream.
	ev, err := st.Event(context.Background(), ids[1])
	if err != nil || ev.State != store.StatePending || ev.BudgetUsed != 0 || ev.Attempts != 1 || ev.LastError == nil {
		t.Errorf("replayed event %+v %v", ev, err)
	}
	// The re-drive was committed to the outbox with the reset; the
	// process's outbox publisher sends it.
	if n, err := outbox.NewPublisher(st, e.js, quietLogger()).Flush(context.Background()); err != nil || n != 1 {
		t.Fatalf("outbox flush: %d, %v; want the replay's re-drive", n, err)
	}
	last := e.lastRegistration(t)
	if got := last.Header.Get("Nats-Msg-Id"); got != ids[1].String()+":replay:"+res.ReplayID {
		t.Errorf("replay message id %q", got)
	}

	resp, body = e.do(t, "GET", "/admin/v1/replays?limit=10", nil, adminAuth)
	var l struct {
		Items []ops.ReplayRecord `json:"items"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &l) != nil || len(l.Items) != 2 {
		t.Fatalf("replays: %d %s", resp.StatusCode, body)
	}
	newest, oldest := l.Items[0], l.Items[1]
	if newest.ReplayID != res.ReplayID || newest.DryRun || newest.IDs != 1 || newest.Actor != "cli:bob" || newest.Replayed != 1 || newest.Status != "done" {
		t.Errorf("newest %+v", newest)
	}
	if !oldest.DryRun || oldest.Filter == nil || oldest.Filter.State[0] != "failed" || oldest.Matched != 2 || oldest.Replayed != 0 {
		t.Errorf("oldest %+v", oldest)
	}
	resp, body = e.do(t, "GET", "/admin/v1/replays?limit=0", nil, adminAuth)
	checkProblem(t, resp, body, http.StatusUnprocessableEntity, "limit")
}
