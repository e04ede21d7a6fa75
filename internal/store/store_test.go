package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

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
		got, err := st.RecordResults(ctx, []store.Result{{EventID: id, State: s.state, Call: call(s.code), SpendsBudget: true}})
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
