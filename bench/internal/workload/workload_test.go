package workload

import (
	"encoding/json"
	"regexp"
	"testing"
)

func TestBodiesAreJSON(t *testing.T) {
	var ev map[string]any
	if err := json.Unmarshal(Event(nil, "x", 7), &ev); err != nil || ev["message_id"] != "x-7" || ev["status"] != true {
		t.Fatalf("event: %v %v", ev, err)
	}
	var b struct{ Events []map[string]any }
	if err := json.Unmarshal(Batch(nil, "x", 2, 100), &b); err != nil || len(b.Events) != 100 || b.Events[0]["message_id"] != "x-200" {
		t.Fatalf("batch: %v", err)
	}
	data, id := BusPayload("x", 1)
	var p map[string]any
	if err := json.Unmarshal(data, &p); err != nil || p["id"] != id {
		t.Fatalf("payload %s: %v", data, err)
	}
	// The id relay computes (inbound.EventID) for liasmart:4134.
	if got := EventID("4134").String(); got != "57cce200-3726-5354-9709-aa9f7de7d361" {
		t.Fatalf("EventID = %s", got)
	}
}

func TestMixedBatchSpreadsValidIDs(t *testing.T) {
	patterns := map[string]*regexp.Regexp{
		"liasmart": regexp.MustCompile(`^r-\d+$`),
		"twilio":   regexp.MustCompile(`^SM[0-9a-f]{32}$`),
		"vonage":   regexp.MustCompile(`^[0-9A-F]{16}$`),
		"plivo":    regexp.MustCompile(`^[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}$`),
	}
	vendors := []Vendor{Liasmart, Twilio, Vonage, Plivo}
	var b struct {
		Events []struct {
			Vendor    string `json:"vendor"`
			MessageID string `json:"message_id"`
		}
	}
	if err := json.Unmarshal(MixedBatch(nil, vendors, "r", 3, 10), &b); err != nil || len(b.Events) != 10 {
		t.Fatalf("batch of %d: %v", len(b.Events), err)
	}
	seen := map[string]bool{}
	for i, ev := range b.Events {
		want := VendorOf(vendors, int64(30+i))
		if ev.Vendor != want.Name || ev.MessageID != string(want.ID(nil, "r", int64(30+i))) {
			t.Errorf("event %d: %s %s, want vendor %s", i, ev.Vendor, ev.MessageID, want.Name)
		}
		if !patterns[ev.Vendor].MatchString(ev.MessageID) {
			t.Errorf("event %d: %s message id %q off its pattern", i, ev.Vendor, ev.MessageID)
		}
		if seen[ev.MessageID] {
			t.Errorf("event %d: message id %q twice", i, ev.MessageID)
		}
		seen[ev.MessageID] = true
	}
	// One vendor's mixed batch is the plain batch, byte for byte but for
	// the clock (the one-vendor run moves the e2e phase's bytes).
	at := regexp.MustCompile(`"occurred_at":"[^"]*"`)
	got := at.ReplaceAllString(string(MixedBatch(nil, []Vendor{Liasmart}, "r", 2, 5)), "")
	want := at.ReplaceAllString(string(Batch(nil, "r", 2, 5)), "")
	if got != want || len(got) < 5*100 {
		t.Errorf("mixed batch of liasmart alone:\n%s\nwant\n%s", got, want)
	}
}
