package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.DatabaseURL(t)

	// Eight processes' worth of stores start at once.
	var wg sync.WaitGroup
	applied := make([][]int, 8)
	errs := make([]error, 8)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := store.Open(ctx, dbURL, store.Options{MaxConns: 2})
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			applied[i], errs[i] = st.Migrate(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
		total += len(applied[i])
	}
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if total != len(ms) {
		t.Fatalf("migrations applied %d times in all, want each of %d exactly once", total, len(ms))
	}

	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	again, err := st.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate: applied %v, err %v; want nothing", again, err)
	}
	var n int
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations has %d rows (err %v), want %d", n, err, len(ms))
	}
}

func TestOpenCreatesMissingDatabase(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t) // created...
	ctx := context.Background()
	if err := store.DropDatabase(ctx, dbURL); err != nil { // ...and gone again
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatalf("open on a missing database: %v", err)
	}
	st.Close()
}

func TestRecordResultsNeverUndoesAFinalState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	id := uuid.New()
	evs, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "m1"}})
	if err != nil || len(evs) != 1 || evs[0].State != store.StatePending {
		t.Fatalf("upsert: %v %+v", err, evs)
	}
	// The same event again (a duplicate message) returns the same row.
	evs, err = st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "m1"}, {ID: id, Vendor: "liasmart", MessageID: "m1"}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("second upsert: %v, %d rows", err, len(evs))
	}
	code := 1000
	call := func(c int) *store.Attempt {
		return &store.Attempt{EventID: id, Attempt: 1, StartedAt: time.Now(), Duration: time.Millisecond, VendorCode: &c, Outcome: "x"}
	}
	steps := []struct {
		state store.State
		code  int
		want  store.State
	}{
		{store.StateAlreadyConfirmed, 1009, store.StateAlreadyConfirmed},
		{store.StateConfirmed, code, store.StateConfirmed}, // a 1000 is the stronger fact
		{store.StateRetrying, 0, store.StateConfirmed},     // a late failure changes nothing
		{store.StateFailed, 1008, store.StateConfirmed},
		{store.StateAlreadyConfirmed, 1009, store.StateConfirmed},
	}
	for i, s := range steps {
		got, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: id, State: s.state, Call: call(s.code), SpendsBudget: true}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].State != s.want || got[0].Attempts != i+1 {
			t.Fatalf("step %d (%s): got %+v, want state %s with %d attempts", i, s.state, got, s.want, i+1)
		}
	}
	attempts, err := st.Attempts(ctx, id)
	if err != nil || len(attempts) != len(steps) {
		t.Fatalf("attempts: %d rows, err %v; want %d", len(attempts), err, len(steps))
	}
}

// TestResultWaitingForALockSeesTheCommittedState makes a batch wait for
// the lock of a row another transaction holds and confirms meanwhile: the
// waiting batch's already_confirmed must not overwrite that confirmed.
// Deciding from a snapshot taken before waiting for the lock did.
func TestResultWaitingForALockSeesTheCommittedState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	id := uuid.New()
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "race"}}); err != nil {
		t.Fatal(err)
	}
	// The other batch: holds the row and is about to record a 1000.
	other, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, `SELECT 1 FROM events WHERE id = $1 FOR NO KEY UPDATE`, id); err != nil { // as an UPDATE locks
		t.Fatal(err)
	}
	code := 1009
	done := make(chan error, 1)
	go func() {
		_, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: id, State: store.StateAlreadyConfirmed, SpendsBudget: true,
			Call: &store.Attempt{CallID: uuid.New(), EventID: id, Attempt: 1, StartedAt: time.Now(), VendorCode: &code, Outcome: "already_confirmed"}}})
		done <- err
	}()
	testenv.Eventually(t, 10*time.Second, "the batch to wait for the row lock", func() bool {
		var waiting int
		err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND a.datname = current_database()`).Scan(&waiting)
		return err == nil && waiting > 0
	})
	if _, err := other.Exec(ctx, `UPDATE events SET state = 'confirmed', attempts = 1, confirmed_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e, err := st.Event(ctx, id)
	if err != nil || e.State != store.StateConfirmed || e.Attempts != 2 {
		t.Fatalf("event %+v (%v): want confirmed with both calls counted", e, err)
	}
}

// TestRecordResultsTwiceCountsOnce replays a batch whose commit succeeded
// but whose answer was lost: the calls are recorded and counted once.
func TestRecordResultsTwiceCountsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	id := uuid.New()
	if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "twice"}}); err != nil {
		t.Fatal(err)
	}
	code := 503
	results := []store.Result{{EventID: id, State: store.StateRetrying, SpendsBudget: true,
		Call: &store.Attempt{CallID: uuid.New(), EventID: id, Attempt: 1, StartedAt: time.Now(), HTTPStatus: &code, Outcome: "retry"}}}
	for range 3 {
		got, err := outbound.RecordResults(ctx, st, results)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Attempts != 1 || got[0].BudgetUsed != 1 || got[0].State != store.StateRetrying {
			t.Fatalf("after a repeated record: %+v, want 1 attempt, 1 budget, retrying", got)
		}
	}
	attempts, err := st.Attempts(ctx, id)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("%d attempt rows (err %v), want 1", len(attempts), err)
	}
}
