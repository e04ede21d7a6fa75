package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

// hostileBatch claims four events and gives each a result carrying what a
// vendor may send back: a NUL, invalid UTF-8 and a status longer than a
// code, an ErrorCode that no integer column holds; and one plain
// confirmation beside them.
func hostileBatch(t *testing.T, st *store.Store, prefix string) (store.Batch, map[string]uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	token := uuid.New()
	names := []string{"nul", "split", "huge-code", "ok"}
	ids := map[string]uuid.UUID{}
	var evs []store.NewEvent
	for _, n := range names {
		ev := newEvent(prefix + n)
		ids[n] = ev.ID
		evs = append(evs, ev)
	}
	if _, err := st.ClaimEvents(ctx, token, time.Minute, evs); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Minute)
	retry := func(id uuid.UUID, code *int, status, msg string) store.Result {
		a := attemptOf(id, 1, code)
		a.Error, a.Outcome, a.VendorStatus = msg, "retry", status
		return store.Result{EventID: id, Vendor: "liasmart", State: store.StateRetrying, Call: a, SpendsBudget: true,
			NextAttemptAt: &next, LastError: msg}
	}
	split := "liasmart: HTTP 503: " + strings.Repeat("a", 179) + "\xe6\x9c" // 服 cut after two of its three bytes
	b := store.Batch{Token: token, Release: []uuid.UUID{ids["nul"], ids["split"], ids["huge-code"], ids["ok"]}, Results: []store.Result{
		retry(ids["nul"], nil, "Throttling\x00Exception", "liasmart: HTTP 503: <html>\x00</html>"),
		// 服 straddles the 64th byte: the status is cut before it.
		retry(ids["split"], nil, strings.Repeat("E", 62)+"服"+strings.Repeat("E", 100), split),
		retry(ids["huge-code"], intp(99999999999), "99999999999", "vendor code 99999999999: undocumented code"),
		{EventID: ids["ok"], Vendor: "liasmart", State: store.StateConfirmed, Call: attemptOf(ids["ok"], 1, intp(1000))},
	}, Vendors: []string{"liasmart"}}
	return b, ids
}

// setFailures decides a batch as outbound.PlanResults does, and sets
// vendor's breaker count to n (a batch whose calls ended with an answer
// after n transient failures).
func setFailures(vendor string, n int) func(store.BatchState) store.Plan {
	return func(s store.BatchState) store.Plan {
		p := outbound.PlanResults(s)
		p.Vendors = append(p.Vendors, store.VendorWrite{Vendor: vendor, Failures: n})
		return p
	}
}

// checkHostileBatch: the batch committed; every event has its attempt,
// readable; the confirmation went through.
func checkHostileBatch(t *testing.T, st *store.Store, ids map[string]uuid.UUID, wantNote string) {
	t.Helper()
	ctx := context.Background()
	for name, id := range ids {
		e, err := st.Event(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := store.StateRetrying
		if name == "ok" {
			want = store.StateConfirmed
		}
		if e.State != want || e.Attempts != 1 {
			t.Errorf("%s: state %s, %d attempts; want %s, 1", name, e.State, e.Attempts, want)
		}
		attempts, err := st.Attempts(ctx, id)
		if err != nil || len(attempts) != 1 {
			t.Fatalf("%s: %d attempt rows, %v; want 1", name, len(attempts), err)
		}
		for _, s := range []string{attempts[0].Error, deref(e.LastError)} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Errorf("%s: stored text %q is not valid UTF-8 without NUL", name, s)
			}
			if name != "ok" && wantNote != "" && !strings.Contains(s, wantNote) {
				t.Errorf("%s: stored text %q, want it to say %q", name, s, wantNote)
			}
		}
		if c := attempts[0].VendorCode; name == "huge-code" && c != nil {
			t.Errorf("huge code stored as %d, want NULL: it fits no integer column", *c)
		}
		for _, s := range []string{attempts[0].VendorStatus, deref(e.VendorStatus)} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || len(s) > 64 {
				t.Errorf("%s: stored vendor_status %q is not valid UTF-8 without NUL, at most 64 bytes", name, s)
			}
		}
		if got := deref(e.VendorStatus); name == "huge-code" && (got != "99999999999" || attempts[0].VendorStatus != got) {
			t.Errorf("huge code: vendor_status %q, attempt's %q; want the code as the vendor wrote it, \"99999999999\"",
				got, attempts[0].VendorStatus)
		}
	}
}

func TestRecordBatchStoresHostileVendorText(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	b, ids := hostileBatch(t, st, "hostile-")
	out, err := st.RecordBatch(context.Background(), b, setFailures("liasmart", 2))
	if err != nil {
		t.Fatalf("RecordBatch: %v", err)
	}
	if len(out.Events) != 4 {
		t.Errorf("%d events returned, want 4", len(out.Events))
	}
	checkHostileBatch(t, st, ids, "")
	e, _ := st.Event(context.Background(), ids["nul"])
	if got := deref(e.LastError); got != "liasmart: HTTP 503: <html>\uFFFD</html>" {
		t.Errorf("NUL error stored as %q", got)
	}
	if got := deref(e.VendorStatus); got != "Throttling\uFFFDException" {
		t.Errorf("NUL status stored as %q", got)
	}
	e, _ = st.Event(context.Background(), ids["split"])
	if got := deref(e.VendorStatus); got != strings.Repeat("E", 62) {
		t.Errorf("long status stored as %q (%d bytes), want cut before the character straddling byte 64", got, len(got))
	}
}

// TestRecordBatchIsolatesTheRowPostgreSQLRefuses: with the text going to
// PostgreSQL as it came (the cleaning skipped), the bulk statement fails
// with a data error; the batch is redone row by row, the refused rows get
// a readable note instead of their text, and the rest commits.
func TestRecordBatchIsolatesTheRowPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	b, ids := hostileBatch(t, st, "raw-")
	if _, err := store.RecordBatchUncleaned(context.Background(), st, b, setFailures("liasmart", 2)); err != nil {
		t.Fatalf("RecordBatch: %v", err)
	}
	checkHostileBatch(t, st, ids, "")
	for _, n := range []string{"nul", "split"} {
		e, _ := st.Event(context.Background(), ids[n])
		if !strings.Contains(deref(e.LastError), "vendor answer could not be stored (SQLSTATE 22021)") {
			t.Errorf("%s: last_error %q, want the note naming SQLSTATE 22021", n, deref(e.LastError))
		}
		attempts, _ := st.Attempts(context.Background(), ids[n])
		if e.VendorStatus != nil || len(attempts) != 1 || attempts[0].VendorStatus != "" {
			t.Errorf("%s: vendor_status %q, attempts %+v; want none: the refused row's vendor text is replaced", n, deref(e.VendorStatus), attempts)
		}
	}
	e, _ := st.Event(context.Background(), ids["huge-code"])
	if got := deref(e.LastError); got != "vendor code 99999999999: undocumented code" {
		t.Errorf("huge-code: last_error %q: a row PostgreSQL accepted keeps its text", got)
	}
}

func TestDataErrorsAreInvalidDataNotRetryable(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ctx := context.Background()
	_, err := st.Pool().Exec(ctx, `SELECT $1::text`, "a\x00b")
	err = store.Wrap("probe", err)
	if !errors.Is(err, store.ErrInvalidData) || errors.Is(err, store.ErrRetryable) {
		t.Errorf("NUL in text: %v; want ErrInvalidData, not ErrRetryable", err)
	}
	_, err = st.Pool().Exec(ctx, `SELECT 99999999999::int`)
	if err = store.Wrap("probe", err); !errors.Is(err, store.ErrInvalidData) {
		t.Errorf("int overflow: %v; want ErrInvalidData", err)
	}
	_, err = st.Pool().Exec(ctx, `INSERT INTO attempts (event_id, attempt, started_at, outcome) VALUES ($1, 1, now(), 'x')`, uuid.New())
	if err = store.Wrap("probe", err); !errors.Is(err, store.ErrInvalidData) {
		t.Errorf("foreign key violation: %v; want ErrInvalidData", err)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
