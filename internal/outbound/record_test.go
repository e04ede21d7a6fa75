package outbound

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/store"
	"relay/internal/testenv"
)

func attemptOf(id uuid.UUID, n int) *store.Attempt {
	return &store.Attempt{CallID: uuid.New(), EventID: id, Attempt: n, StartedAt: time.Now(), Outcome: "x"}
}

// TestBreakerPausesAfterThresholdAcrossBatches: transient failures add up
// across batches (replicas) until the threshold pauses the vendor as
// unavailable, with its alert in the outbox; an answer resets the count.
func TestBreakerPausesAfterThresholdAcrossBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	record := func(tl vendorTally) store.BatchOutcome {
		t.Helper()
		tl.Vendor, tl.Threshold = "liasmart", 5
		out, err := recordBatch(ctx, st, store.Batch{}, []vendorTally{tl})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	record(vendorTally{Failures: 3})
	record(vendorTally{Answered: true, Failures: 1}) // an answer: the count restarts at 1
	if out := record(vendorTally{Failures: 3}); len(out.Changes) != 0 {
		t.Fatalf("paused at 4 consecutive failures: %+v", out.Changes)
	}
	out := record(vendorTally{Failures: 1})
	if len(out.Changes) != 1 || !out.Changes[0].Paused || out.Changes[0].Kind != store.PauseUnavailable {
		t.Fatalf("changes at 5 = %+v, want a pause of kind unavailable", out.Changes)
	}
	statuses, err := st.VendorStatuses(ctx)
	if err != nil || len(statuses) != 1 || !statuses[0].Paused || statuses[0].Kind != store.PauseUnavailable {
		t.Fatalf("status = %+v, %v", statuses, err)
	}
	// A probe that got no answer proves nothing; one that got an answer resumes.
	if out := record(vendorTally{Failures: 1}); len(out.Changes) != 0 {
		t.Fatalf("a failed probe changed the pause: %+v", out.Changes)
	}
	out = record(vendorTally{Answered: true, ProbeAnswered: true})
	if len(out.Changes) != 1 || out.Changes[0].Paused || out.Changes[0].Kind != store.PauseUnavailable {
		t.Fatalf("changes after an answered probe = %+v, want a resume of the unavailable pause", out.Changes)
	}
	var kinds []string
	rows, _ := st.Pool().Query(ctx, `SELECT convert_from(payload, 'UTF8')::jsonb->>'kind' FROM outbox ORDER BY seq`)
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		kinds = append(kinds, k)
	}
	if fmt.Sprint(kinds) != "[vendor_unavailable vendor_available]" {
		t.Fatalf("outbox alerts %v, want [vendor_unavailable vendor_available]", kinds)
	}
}

// TestExhaustedDuringOutageParks: an event whose budget a transient
// failure spends while nothing answers is parked paused, its budget kept,
// and the vendor pauses as unavailable; the same failure while the vendor
// answers others fails the event.
func TestExhaustedDuringOutageParks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	a := store.NewEvent{ID: uuid.New(), Vendor: "liasmart", MessageID: "ex-a"}
	b := store.NewEvent{ID: uuid.New(), Vendor: "liasmart", MessageID: "ex-b"}
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{a, b}); err != nil {
		t.Fatal(err)
	}
	exhausted := func(id uuid.UUID) store.Result {
		return store.Result{EventID: id, Vendor: "liasmart", State: store.StateFailed, SpendsBudget: true, Exhausted: true,
			LastError: "HTTP 503", Call: attemptOf(id, 1)}
	}
	out, err := recordBatch(ctx, st, store.Batch{Results: []store.Result{exhausted(b.ID)}},
		[]vendorTally{{Vendor: "liasmart", Answered: true, Failures: 0, Threshold: 20}})
	if err != nil || out.Events[0].State != store.StateFailed {
		t.Fatalf("exhausted while the vendor answers: %+v, %v; want failed", out.Events, err)
	}
	out, err = recordBatch(ctx, st, store.Batch{Results: []store.Result{exhausted(a.ID)}},
		[]vendorTally{{Vendor: "liasmart", Failures: 1, Threshold: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if e := out.Events[0]; e.State != store.StatePaused || e.BudgetUsed != 0 || e.LastError == nil || *e.LastError != "HTTP 503"+outageNote {
		t.Fatalf("exhausted during an outage: state %s budget %d error %v; want paused, 0, the outage note", e.State, e.BudgetUsed, e.LastError)
	}
	if len(out.Changes) != 1 || out.Changes[0].Kind != store.PauseUnavailable {
		t.Fatalf("changes %+v, want the vendor paused as unavailable", out.Changes)
	}
}
