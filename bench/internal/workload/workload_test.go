package workload

import (
	"encoding/json"
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
