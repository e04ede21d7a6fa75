package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

func newEvent(msg string) store.NewEvent {
	return store.NewEvent{ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+msg)), Vendor: "liasmart", MessageID: msg}
}

func attemptOf(id uuid.UUID, n int, code *int) *store.Attempt {
	return &store.Attempt{CallID: uuid.New(), EventID: id, Attempt: n, StartedAt: time.Now(), VendorCode: code, Outcome: "x"}
}

func intp(n int) *int { return &n }

// addFailures decides a batch as outbound.PlanResults does, and adds n
// transient failures to vendor's breaker count: the batch then writes the
// vendor's row, which RecordBatch locked for it.
func addFailures(vendor string, n int) func(store.BatchState) store.Plan {
	return func(s store.BatchState) store.Plan {
		p := outbound.PlanResults(s)
		p.Vendors = append(p.Vendors, store.VendorWrite{Vendor: vendor, Failures: s.Vendors[vendor].Failures + n})
		return p
	}
}

// replayID records a replay, as ops does before resetting events.
func replayID(t *testing.T, st *store.Store) uuid.UUID {
	t.Helper()
	r, err := st.BeginReplay(context.Background(), store.Replay{ID: uuid.New(), RequestHash: []byte{1}, Actor: "test",
		Request: json.RawMessage(`{}`)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestClaimIsExclusive: a second batch (another replica, another message
// of the same event) finds the event claimed and may not call; once the
// first batch records, or its claim runs out, the event is claimable.
func TestClaimIsExclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	ev := newEvent("claim-1")
	first, second := uuid.New(), uuid.New()

	got, err := st.ClaimEvents(ctx, first, time.Minute, []store.NewEvent{ev})
	if err != nil || len(got) != 1 || !got[0].Mine || got[0].Event.State != store.StatePending {
		t.Fatalf("first claim (new event) = %+v, %v; want mine, pending", got, err)
	}
	got, err = st.ClaimEvents(ctx, second, time.Minute, []store.NewEvent{ev})
	if err != nil || len(got) != 1 || got[0].Mine || got[0].Event.ClaimedUntil == nil {
		t.Fatalf("second claim while held = %+v, %v; want not mine, with the holder's expiry", got, err)
	}
	if _, err := st.RecordBatch(ctx, store.Batch{Token: first, Release: []uuid.UUID{ev.ID}}, outbound.PlanResults); err != nil {
		t.Fatal(err)
	}
	got, err = st.ClaimEvents(ctx, second, 50*time.Millisecond, []store.NewEvent{ev})
	if err != nil || len(got) != 1 || !got[0].Mine {
		t.Fatalf("claim after release = %+v, %v; want mine", got, err)
	}
	// A crashed holder's claim runs out.
	testenv.Eventually(t, 5*time.Second, "the crashed batch's claim to run out", func() bool {
		got, err = st.ClaimEvents(ctx, first, time.Minute, []store.NewEvent{ev})
		return err == nil && len(got) == 1 && got[0].Mine
	})
	// Final events are never claimed.
	if _, err := st.RecordBatch(ctx, store.Batch{Token: first, Release: []uuid.UUID{ev.ID},
		Results: []store.Result{{EventID: ev.ID, State: store.StateConfirmed, Call: attemptOf(ev.ID, 1, intp(1000))}}}, outbound.PlanResults); err != nil {
		t.Fatal(err)
	}
	got, err = st.ClaimEvents(ctx, second, time.Minute, []store.NewEvent{ev})
	if err != nil || len(got) != 1 || got[0].Mine || got[0].Event.State != store.StateConfirmed {
		t.Fatalf("claim of a confirmed event = %+v, %v; want not mine, confirmed", got, err)
	}
}

// TestClaimRaceOneWinner: many batches claim the same events at once;
// each event is claimed by exactly one.
func TestClaimRaceOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	var evs []store.NewEvent
	for i := range 50 {
		evs = append(evs, newEvent(fmt.Sprintf("race-%d", i)))
	}
	const batches = 8
	wins := make([]map[uuid.UUID]bool, batches)
	var wg sync.WaitGroup
	for b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := st.ClaimEvents(ctx, uuid.New(), time.Minute, evs)
			if err != nil {
				t.Error(err)
				return
			}
			wins[b] = map[uuid.UUID]bool{}
			for _, c := range got {
				if c.Mine {
					wins[b][c.Event.ID] = true
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range evs {
		n := 0
		for b := range batches {
			if wins[b][e.ID] {
				n++
			}
		}
		if n > 1 {
			t.Errorf("event %s claimed by %d batches at once", e.MessageID, n)
		}
	}
}

// TestReplayIsNotUndoneByABatchInFlight: a batch claimed an event, a
// replay reset it meanwhile, then the batch records a failure decided from
// the old budget. The call is recorded; the reset stands.
func TestReplayIsNotUndoneByABatchInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	ev := newEvent("replay-in-flight")
	token := uuid.New()
	got, err := st.ClaimEvents(ctx, token, time.Minute, []store.NewEvent{ev})
	if err != nil || !got[0].Mine {
		t.Fatal(got, err)
	}
	gen := got[0].Event.Generation
	reset, err := st.ResetForReplay(ctx, replayID(t, st), []uuid.UUID{ev.ID}, false, "relay.registrations.")
	if err != nil || len(reset) != 1 {
		t.Fatalf("reset = %v, %v", reset, err)
	}
	out, err := st.RecordBatch(ctx, store.Batch{Token: token, Release: []uuid.UUID{ev.ID}, Results: []store.Result{{
		EventID: ev.ID, State: store.StateFailed, SpendsBudget: true, Generation: gen, LastError: "budget spent",
		Call: attemptOf(ev.ID, 1, nil)}}}, outbound.PlanResults)
	if err != nil {
		t.Fatal(err)
	}
	e := out.Events[0]
	if e.State != store.StatePending || e.BudgetUsed != 0 || e.Attempts != 1 || e.ClaimedUntil != nil {
		t.Fatalf("after the stale result: state %s budget %d attempts %d claimed %v; want pending, 0, 1, released",
			e.State, e.BudgetUsed, e.Attempts, e.ClaimedUntil)
	}
	// A success is a fact whatever the generation: it lands.
	if got, err := st.ClaimEvents(ctx, token, time.Minute, []store.NewEvent{ev}); err != nil || !got[0].Mine {
		t.Fatalf("claim after the replay: %+v, %v", got, err)
	}
	out, err = st.RecordBatch(ctx, store.Batch{Token: token, Release: []uuid.UUID{ev.ID}, Results: []store.Result{{
		EventID: ev.ID, State: store.StateConfirmed, Generation: gen, Call: attemptOf(ev.ID, 2, intp(1000))}}}, outbound.PlanResults)
	if err != nil || out.Events[0].State != store.StateConfirmed {
		t.Fatalf("stale success: %+v, %v; want confirmed", out.Events, err)
	}
	// The replay's message is in the outbox, written with the reset.
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE event_id = $1 AND msg_id LIKE '%:replay:%'`, ev.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("outbox re-drives for the replay: %d (%v), want 1", n, err)
	}
}

// TestLateTransportErrorKeepsVendorCode: a confirmed event keeps the code
// of the answer that confirmed it when a late call ends without one.
func TestLateTransportErrorKeepsVendorCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	ev := newEvent("late-error")
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: ev.ID, State: store.StateConfirmed, Call: attemptOf(ev.ID, 1, intp(1000))}}); err != nil {
		t.Fatal(err)
	}
	got, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: ev.ID, State: store.StateRetrying, SpendsBudget: true,
		LastError: "timeout", Call: attemptOf(ev.ID, 2, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if e := got[0]; e.State != store.StateConfirmed || e.VendorCode == nil || *e.VendorCode != 1000 || e.Attempts != 2 || e.LastError != nil {
		t.Fatalf("after a late transport error: state %s code %v attempts %d last_error %v; want confirmed, 1000, 2, none",
			e.State, e.VendorCode, e.Attempts, e.LastError)
	}
}

// TestVendorStatusFollowsTheAnswers: an event's vendor_status is its last
// answer's, as the vendor wrote it; a call without an answer keeps it, and
// vendor_code is null where the status is no number.
func TestVendorStatusFollowsTheAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	ev := newEvent("vendor-status")
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{ev}); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Minute)
	steps := []struct {
		code       *int
		status     string
		wantCode   *int
		wantStatus string
	}{
		{intp(1007), "1007", intp(1007), "1007"},
		{nil, "", intp(1007), "1007"},                                   // a timeout: no answer
		{nil, "ThrottlingException", intp(1007), "ThrottlingException"}, // vendor_code keeps the last number
		{nil, "HTTP 503", intp(1007), "HTTP 503"},
	}
	for i, s := range steps {
		a := attemptOf(ev.ID, i+1, s.code)
		a.VendorStatus = s.status
		got, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: ev.ID, State: store.StateRetrying, SpendsBudget: true,
			NextAttemptAt: &next, LastError: "x", Call: a}})
		if err != nil {
			t.Fatal(err)
		}
		e := got[0]
		if fmt.Sprint(derefInt(e.VendorCode)) != fmt.Sprint(derefInt(s.wantCode)) || deref(e.VendorStatus) != s.wantStatus {
			t.Errorf("step %d: vendor_code %v vendor_status %q; want %v %q", i, derefInt(e.VendorCode), deref(e.VendorStatus),
				derefInt(s.wantCode), s.wantStatus)
		}
	}
	attempts, err := st.Attempts(ctx, ev.ID)
	if err != nil || len(attempts) != len(steps) {
		t.Fatalf("%d attempts (%v), want %d", len(attempts), err, len(steps))
	}
	for i, a := range attempts {
		if a.VendorStatus != steps[i].status {
			t.Errorf("attempt %d: vendor_status %q, want %q", i+1, a.VendorStatus, steps[i].status)
		}
	}
}

// TestVendorStatusOfRowsWrittenBefore: a row written before vendor_status
// existed (its code only) reads as its code's text, event and attempt.
func TestVendorStatusOfRowsWrittenBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	ev := newEvent("legacy-status")
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE events SET state = 'failed', vendor_code = 1008 WHERE id = $1`, ev.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO attempts (event_id, attempt, started_at, duration_ms, vendor_code, outcome)
		VALUES ($1, 1, now(), 1, 1008, 'fail')`, ev.ID); err != nil {
		t.Fatal(err)
	}
	e, err := st.Event(ctx, ev.ID)
	if err != nil || deref(e.VendorStatus) != "1008" {
		t.Fatalf("legacy event: vendor_status %q (%v), want \"1008\"", deref(e.VendorStatus), err)
	}
	attempts, err := st.Attempts(ctx, ev.ID)
	if err != nil || len(attempts) != 1 || attempts[0].VendorStatus != "1008" {
		t.Fatalf("legacy attempt: %+v (%v), want vendor_status \"1008\"", attempts, err)
	}
	events, err := st.ListEvents(ctx, store.Filter{IDs: []uuid.UUID{ev.ID}})
	if err != nil || len(events) != 1 || deref(events[0].VendorStatus) != "1008" {
		t.Fatalf("legacy event listed: %+v (%v), want vendor_status \"1008\"", events, err)
	}
}

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestReplayDuringTrafficNeverDeadlocks runs replays and batch records over
// the same events in opposite orders, at once, many times.
func TestReplayDuringTrafficNeverDeadlocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	var evs []store.NewEvent
	var ids []uuid.UUID
	for i := range 40 {
		e := newEvent(fmt.Sprintf("dl-%d", i))
		evs = append(evs, e)
		ids = append(ids, e.ID)
	}
	if _, err := st.UpsertEvents(ctx, nil, evs); err != nil {
		t.Fatal(err)
	}
	reversed := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		reversed[len(ids)-1-i] = id
	}
	for round := range 20 {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		wg.Add(3)
		rid := replayID(t, st)
		go func() {
			defer wg.Done()
			_, err := st.ResetForReplay(ctx, rid, reversed, true, "relay.registrations.")
			errs <- err
		}()
		go func() {
			defer wg.Done()
			var rs []store.Result
			for _, id := range ids {
				rs = append(rs, store.Result{EventID: id, Vendor: "liasmart", State: store.StatePaused,
					Call: attemptOf(id, round, nil)})
			}
			_, err := st.RecordBatch(ctx, store.Batch{Results: rs, Vendors: []string{"liasmart"}}, addFailures("liasmart", 1))
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := st.ClaimEvents(ctx, uuid.New(), time.Millisecond, evs)
			errs <- err
		}()
		// An operator's pause and resume of the vendor at the same time:
		// the resume re-drives paused events while batches tally.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.PauseVendor(ctx, "liasmart", store.PauseUnavailable, "test"); err != nil {
				errs <- err
				return
			}
			_, err := st.ResumeVendor(ctx, "liasmart", "relay.registrations.liasmart", fmt.Sprintf("resume:%d", round), nil)
			errs <- err
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// TestRedriveFindsWhatIsOwed: the reconciler's query picks a paused event
// of a running vendor and an overdue retrying one, never a claimed, final
// or recently re-driven one, and writes an outbox row each.
func TestRedriveFindsWhatIsOwed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	paused, retrying, final, claimed := newEvent("rd-paused"), newEvent("rd-retrying"), newEvent("rd-final"), newEvent("rd-claimed")
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{paused, retrying, final, claimed}); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if _, err := outbound.RecordResults(ctx, st, []store.Result{
		{EventID: paused.ID, State: store.StatePaused, NextAttemptAt: &past},
		{EventID: retrying.ID, State: store.StateRetrying, NextAttemptAt: &past},
		{EventID: final.ID, State: store.StateFailed},
		{EventID: claimed.ID, State: store.StateRetrying, NextAttemptAt: &past},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimEvents(ctx, uuid.New(), time.Minute, []store.NewEvent{claimed}); err != nil {
		t.Fatal(err)
	}
	opts := store.RedriveOptions{Vendors: []string{"liasmart"}, SubjectPrefix: "relay.registrations.",
		Grace: time.Second, Probe: time.Minute, Limit: 100, Tag: "t1"}
	n, err := st.Redrive(ctx, opts)
	if err != nil || n != 2 {
		t.Fatalf("first pass re-drove %d (%v), want 2 (paused, retrying)", n, err)
	}
	var got []string
	rows, _ := st.Pool().Query(ctx, `SELECT e.message_id FROM outbox o JOIN events e ON e.id = o.event_id ORDER BY e.message_id`)
	for rows.Next() {
		var m string
		_ = rows.Scan(&m)
		got = append(got, m)
	}
	if fmt.Sprint(got) != "[rd-paused rd-retrying]" {
		t.Fatalf("re-driven %v", got)
	}
	opts.Tag = "t2"
	if n, err := st.Redrive(ctx, opts); err != nil || n != 0 {
		t.Fatalf("second pass at once re-drove %d (%v), want 0 (once per grace)", n, err)
	}
	// Nothing for a vendor this process cannot call.
	if n, err := st.Redrive(ctx, store.RedriveOptions{Vendors: []string{"other"}, SubjectPrefix: "x.", Grace: 0, Probe: 0, Limit: 10, Tag: "t3"}); err != nil || n != 0 {
		t.Fatalf("other vendor: %d, %v", n, err)
	}
}

func TestErrorsAreTranslated(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	_, err := st.Event(context.Background(), uuid.New())
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing event: %v, want ErrNotFound", err)
	}
	if err := st.CreateAPIKey(context.Background(), "k1", [32]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(context.Background(), "k1", [32]byte{2}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key: %v, want ErrConflict", err)
	}
}

// TestVacuumWhereNoAutovacuum: on a server without autovacuum the store
// vacuums the tables it is given (the janitor's deletions become reusable
// space); with autovacuum on it leaves that to the server.
func TestVacuumWhereNoAutovacuum(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	var setting string
	if err := st.Pool().QueryRow(ctx, `SELECT current_setting('autovacuum')`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	vacuumed, err := st.VacuumWhereNoAutovacuum(ctx, []string{"events", "outbox"})
	if err != nil {
		t.Fatal(err)
	}
	if vacuumed != (setting != "on") {
		t.Fatalf("vacuumed %v with autovacuum %s", vacuumed, setting)
	}
	var last *time.Time
	if err := st.Pool().QueryRow(ctx, `SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'events'`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if vacuumed && last == nil {
		t.Fatal("reported vacuumed, but events has no last_vacuum")
	}
}
