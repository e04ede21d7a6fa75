package inbound_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"relay/internal/inbound"
)

var fuzzVendors = map[string]bool{"liasmart": true}

// Seed corpora live in testdata/fuzz/<FuzzName>/; these few keep the
// targets meaningful without them.
var fuzzSeeds = []string{
	`{"vendor":"liasmart","message_id":"4134","status":true}`,
	`{"vendor":"liasmart","message_id":"4134","status":true,"occurred_at":"2026-11-29T18:00:00Z","metadata":{"a":[1,{"b":null}]}}`,
	`{"vendor":"liasmart","message_id":"4134","status":false}`,
}

// checkProblem holds a problem to the documented statuses.
func checkFuzzProblem(t *testing.T, p *inbound.Problem, what string) {
	t.Helper()
	if p.Status != 400 && p.Status != 422 {
		t.Fatalf("%s: status %d, want 400 or 422", what, p.Status)
	}
	if p.Type == "" || p.Title == "" {
		t.Fatalf("%s: problem without type or title: %+v", what, p)
	}
	if p.Status == 422 && len(p.Errors) == 0 {
		t.Fatalf("%s: 422 without errors", what)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Fatalf("%s: problem does not marshal: %v", what, err)
	}
}

// checkFuzzRegistration holds an accepted registration to the documented
// rules.
func checkFuzzRegistration(t *testing.T, r inbound.Registration, what string) {
	t.Helper()
	if n := len(r.MessageID); n < 1 || n > inbound.MaxMessageID {
		t.Fatalf("%s: message_id of %d bytes accepted", what, n)
	}
	for i := 0; i < len(r.MessageID); i++ {
		if c := r.MessageID[i]; c < 0x21 || c > 0x7e {
			t.Fatalf("%s: message_id %q with byte 0x%02x accepted", what, r.MessageID, c)
		}
	}
	if r.Vendor != "liasmart" {
		t.Fatalf("%s: vendor %q accepted", what, r.Vendor)
	}
	if r.Metadata != nil {
		if len(r.Metadata) > inbound.MaxMetadataSize || len(r.Metadata) == 0 || r.Metadata[0] != '{' || !json.Valid(r.Metadata) {
			t.Fatalf("%s: metadata %q accepted", what, r.Metadata)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(r.Metadata, &obj); err != nil || obj == nil {
			t.Fatalf("%s: metadata %q is not an object: %v", what, r.Metadata, err)
		}
		if bytes.Contains(r.Metadata, []byte(`\u0000`)) {
			t.Fatalf(`%s: metadata with \u0000 accepted: %q`, what, r.Metadata)
		}
	}
	if r.ID != inbound.EventID(r.Vendor, r.MessageID) || r.ID == uuid.Nil {
		t.Fatalf("%s: id %s is not EventID(%q, %q)", what, r.ID, r.Vendor, r.MessageID)
	}
	if r.OccurredAt != nil {
		// What is accepted must be publishable: the payload carries
		// occurred_at as RFC 3339.
		if _, err := json.Marshal(r.OccurredAt); err != nil {
			t.Fatalf("%s: occurred_at %v accepted but cannot be published: %v", what, r.OccurredAt, err)
		}
	}
}

func FuzzDecodeRegistration(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, p := inbound.DecodeRegistration(body, fuzzVendors)
		if p != nil {
			checkFuzzProblem(t, p, "registration")
			if reg.ID != uuid.Nil || reg.MessageID != "" || reg.Vendor != "" {
				t.Fatalf("problem %+v with a registration %+v", p, reg)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON %q accepted", body)
		}
		checkFuzzRegistration(t, reg, "registration")
	})
}

func FuzzDecodeBatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(`{"events":[` + s + `]}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		regs, problems, p := inbound.DecodeBatch(body, fuzzVendors)
		if p != nil {
			checkFuzzProblem(t, p, "batch")
			if regs != nil || problems != nil {
				t.Fatalf("batch problem %+v with results", p)
			}
			return
		}
		if len(regs) != len(problems) || len(regs) < 1 || len(regs) > inbound.MaxBatchEvents {
			t.Fatalf("%d registrations, %d problems", len(regs), len(problems))
		}
		// Each item is judged as it would be alone.
		var events []json.RawMessage
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("accepted batch is not an object: %v", err)
		}
		if err := json.Unmarshal(obj["events"], &events); err != nil || len(events) != len(regs) {
			t.Fatalf("events do not match the results: %v", err)
		}
		for i := range regs {
			alone, ap := inbound.DecodeRegistration(events[i], fuzzVendors)
			if problems[i] != nil {
				checkFuzzProblem(t, problems[i], "batch item")
				if problems[i].Status != 422 {
					t.Fatalf("item %d: status %d, want 422", i, problems[i].Status)
				}
				if ap == nil {
					t.Fatalf("item %d rejected in a batch, accepted alone: %s", i, events[i])
				}
				continue
			}
			checkFuzzRegistration(t, regs[i], "batch item")
			if ap != nil || alone.ID != regs[i].ID || !bytes.Equal(alone.Metadata, regs[i].Metadata) {
				t.Fatalf("item %d accepted in a batch, judged differently alone (%v): %s", i, ap, events[i])
			}
		}
	})
}
