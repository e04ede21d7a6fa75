package inbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"relay/internal/bus"
	"relay/internal/inbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

type batchResults struct {
	Results []map[string]json.RawMessage `json:"results"`
}

// wantItem is an expected batch result: an accepted event (messageID) or
// an error naming field.
type wantItem struct {
	messageID string
	dup       bool
	field     string
}

func checkBatch(t *testing.T, resp *http.Response, body []byte, want []wantItem) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, truncate(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var br batchResults
	if err := json.Unmarshal(body, &br); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, truncate(body))
	}
	if len(br.Results) != len(want) {
		t.Fatalf("%d results, want %d: %s", len(br.Results), len(want), truncate(body))
	}
	for i, w := range want {
		item := br.Results[i]
		if w.field != "" {
			if len(item) != 1 || item["error"] == nil {
				t.Errorf("results[%d] = %v, want only an error", i, item)
				continue
			}
			var p problemBody
			if err := json.Unmarshal(item["error"], &p); err != nil {
				t.Fatalf("results[%d].error: %v", i, err)
			}
			if p.Status != http.StatusUnprocessableEntity || p.Type == "" || p.Title == "" {
				t.Errorf("results[%d].error = %+v, want a 422 problem", i, p)
			}
			named := false
			for _, fe := range p.Errors {
				named = named || fe.Field == w.field
			}
			if !named {
				t.Errorf("results[%d].error does not name %q: %s", i, w.field, item["error"])
			}
			continue
		}
		if _, ok := item["error"]; ok || len(item) != 3 {
			t.Errorf("results[%d] = %v, want exactly id, status, duplicate", i, item)
		}
		var a acceptedBody
		raw, _ := json.Marshal(item)
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("results[%d]: %v", i, err)
		}
		exp := acceptedBody{ID: inbound.EventID("liasmart", w.messageID).String(), Status: "accepted", Duplicate: w.dup}
		if a != exp {
			t.Errorf("results[%d] = %+v, want %+v", i, a, exp)
		}
	}
}

// TestBatchMixed: invalid items do not stop valid ones, results keep the
// order, a repeat inside the batch and a re-post are duplicates, and an
// event the window cannot tell is asked of PostgreSQL when it says it is
// older than the window.
func TestBatchMixed(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	e := newEnv(t, st, nil)

	body := batchOf(
		event("b-1"),
		`{"vendor":"liasmart","message_id":"b-bad","status":false}`,
		event("b-2", `"occurred_at":"2026-11-29T19:00:00+01:00"`, `"metadata":{ "campaign" : "x" }`),
		`42`,
		event("b-1"),
		`{"vendor":"acme","message_id":"b-5","status":true}`,
		event("b 6"),
		`null`,
		event("b-3"),
	)
	first := []wantItem{
		{messageID: "b-1"},
		{field: "status"},
		{messageID: "b-2"},
		{field: "events[3]"},
		{messageID: "b-1", dup: true},
		{field: "vendor"},
		{field: "message_id"},
		{field: "events[7]"},
		{messageID: "b-3"},
	}
	resp, out := e.post(t, batchP, []byte(body))
	checkBatch(t, resp, out, first)
	if n := e.msgs(t); n != 3 {
		t.Fatalf("stream holds %d messages, want 3 (b-1, b-2, b-3)", n)
	}

	// The payload of b-2 as the worker will read it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := e.js.Stream(ctx, bus.RegistrationsStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetMsg(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var reg bus.Registration
	if err := json.Unmarshal(m.Data, &reg); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if m.Header.Get("Nats-Msg-Id") != inbound.EventID("liasmart", "b-2").String() {
		t.Errorf("Nats-Msg-Id %q, want the event id", m.Header.Get("Nats-Msg-Id"))
	}
	if reg.ID != inbound.EventID("liasmart", "b-2").String() || reg.Vendor != "liasmart" || reg.MessageID != "b-2" ||
		reg.APIKey != "app1" || string(reg.Metadata) != `{"campaign":"x"}` ||
		reg.OccurredAt == nil || !reg.OccurredAt.Equal(time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("payload %s", m.Data)
	}
	if strings.Contains(string(m.Data), testKey) {
		t.Error("payload carries the API key's secret")
	}

	// The same batch again: every valid item is a duplicate, nothing new
	// reaches the stream.
	again := make([]wantItem, len(first))
	for i, w := range first {
		w.dup = w.field == ""
		again[i] = w
	}
	resp, out = e.post(t, batchP, []byte(body))
	checkBatch(t, resp, out, again)
	if n := e.msgs(t); n != 3 {
		t.Fatalf("stream holds %d messages after the re-post, want 3", n)
	}

	// Events the window cannot tell: recorded in PostgreSQL but not in
	// the window (a repeat after it). One that says it occurred before
	// the window began is looked up and answered duplicate without a
	// publish, alone or in a batch; one without occurred_at is published
	// again, answered as new, and the worker recognises it without a
	// vendor call (TestDuplicateMessagesCallOnce).
	longAgo := `"occurred_at":"` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"`
	for _, mid := range []string{"b-stored", "b-old"} {
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: inbound.EventID("liasmart", mid), Vendor: "liasmart", MessageID: mid}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, out = e.post(t, single, []byte(event("b-old", longAgo)))
	checkAccepted(t, resp, out, http.StatusOK, "b-old", true)
	resp, out = e.post(t, single, []byte(event("b-stored")))
	checkAccepted(t, resp, out, http.StatusAccepted, "b-stored", false)
	resp, out = e.post(t, batchP, []byte(batchOf(event("b-old", longAgo), event("b-stored"), event("b-4", longAgo))))
	checkBatch(t, resp, out, []wantItem{{messageID: "b-old", dup: true}, {messageID: "b-stored", dup: true}, {messageID: "b-4"}})
	if n := e.msgs(t); n != 5 {
		t.Fatalf("stream holds %d messages, want 5 (b-stored once from the window's view, b-4, never b-old)", n)
	}
}

// TestBatchAllInvalid: a batch with no valid item still answers 200 with
// one error per item, and publishes nothing.
func TestBatchAllInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	resp, out := e.post(t, batchP, []byte(batchOf(`[]`, `"x"`, `{}`)))
	checkBatch(t, resp, out, []wantItem{{field: "events[0]"}, {field: "events[1]"}, {field: "status"}})
	if n := e.msgs(t); n != 0 {
		t.Fatalf("stream holds %d messages, want 0", n)
	}
}

// TestBatchOfMaxSize: 1,000 events, the limit, are all accepted.
func TestBatchOfMaxSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	events := make([]string, inbound.MaxBatchEvents)
	want := make([]wantItem, inbound.MaxBatchEvents)
	for i := range events {
		id := fmt.Sprintf("max-%04d", i)
		events[i] = event(id)
		want[i] = wantItem{messageID: id}
	}
	resp, out := e.post(t, batchP, []byte(batchOf(events...)))
	checkBatch(t, resp, out, want)
	if n := e.msgs(t); n != inbound.MaxBatchEvents {
		t.Fatalf("stream holds %d messages, want %d", n, inbound.MaxBatchEvents)
	}
}
