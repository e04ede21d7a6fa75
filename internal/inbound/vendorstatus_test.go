package inbound_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/outbound"
	"relay/internal/store"
)

// TestVendorStatusInTheViews: GET /v1/registrations/{id} and the admin
// attempts view show the vendor's code or status as it wrote it beside
// vendor_code, which is null where that is no number; both are null for
// an event no vendor answered yet.
func TestVendorStatusInTheViews(t *testing.T) {
	t.Parallel()
	e, st := adminEnv(t)
	ctx := context.Background()
	next := time.Now().Add(time.Hour)
	cases := []struct {
		msg    string
		state  store.State
		code   *int
		status string
	}{
		{"coded", store.StateConfirmed, intp(1000), "1000"},
		{"status-only", store.StateRetrying, nil, "HTTP 503"},
		{"word", store.StateFailed, nil, "ValidationException"},
		{"unanswered", store.StatePending, nil, ""},
	}
	for _, c := range cases {
		id := inbound.EventID("liasmart", c.msg)
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: c.msg}}); err != nil {
			t.Fatal(err)
		}
		if c.status == "" {
			continue
		}
		r := store.Result{EventID: id, State: c.state, SpendsBudget: true, LastError: "x",
			Call: &store.Attempt{EventID: id, Attempt: 1, StartedAt: time.Now(), Duration: time.Millisecond,
				VendorCode: c.code, VendorStatus: c.status, Outcome: "x", Error: "x"}}
		if c.state == store.StateRetrying {
			r.NextAttemptAt = &next
		}
		if _, err := outbound.RecordResults(ctx, st, []store.Result{r}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		id := inbound.EventID("liasmart", c.msg).String()
		var wantCode, wantStatus any
		if c.code != nil {
			wantCode = float64(*c.code)
		}
		if c.status != "" {
			wantStatus = c.status
		}
		resp, body := e.do(t, "GET", "/v1/registrations/"+id, nil, map[string]string{"Authorization": testBearer})
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s: GET registration %d %s", c.msg, resp.StatusCode, body)
		}
		checkCodeAndStatus(t, c.msg+": registration", ev, wantCode, wantStatus)

		resp, body = e.do(t, "GET", "/admin/v1/attempts/"+id, nil, adminAuth)
		var view struct {
			Event    map[string]any   `json:"event"`
			Attempts []map[string]any `json:"attempts"`
		}
		if err := json.Unmarshal(body, &view); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s: GET attempts %d %s", c.msg, resp.StatusCode, body)
		}
		checkCodeAndStatus(t, c.msg+": attempts' event", view.Event, wantCode, wantStatus)
		if c.status == "" {
			if len(view.Attempts) != 0 {
				t.Errorf("%s: %d attempts, want none", c.msg, len(view.Attempts))
			}
			continue
		}
		if len(view.Attempts) != 1 {
			t.Fatalf("%s: %d attempts, want 1", c.msg, len(view.Attempts))
		}
		checkCodeAndStatus(t, c.msg+": attempt", view.Attempts[0], wantCode, wantStatus)
	}
}

// checkCodeAndStatus: obj has vendor_code and vendor_status, null or not,
// as wanted.
func checkCodeAndStatus(t *testing.T, what string, obj map[string]any, code, status any) {
	t.Helper()
	gotCode, hasCode := obj["vendor_code"]
	gotStatus, hasStatus := obj["vendor_status"]
	if !hasCode || !hasStatus || gotCode != code || gotStatus != status {
		t.Errorf("%s: vendor_code %v (present %v), vendor_status %v (present %v); want %v, %v",
			what, gotCode, hasCode, gotStatus, hasStatus, code, status)
	}
}

func intp(n int) *int { return &n }
