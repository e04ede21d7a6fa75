package outbound

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/store"
	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	pol := policy{maxAttempts: 3, probe: time.Minute,
		backoff: Backoff{Schedule: []time.Duration{5 * time.Second, time.Minute, 5 * time.Minute}}}
	// The calls as CTrack's client answers them (liasmart.Answer).
	ctrack := func(res liasmart.Result, err error) call {
		a, err := liasmart.Answer(res, err)
		return call{answer: a, err: err}
	}
	answer := func(code liasmart.Code) call { return ctrack(liasmart.Result{Code: code, HTTPStatus: 200}, nil) }
	http503 := ctrack(liasmart.Result{HTTPStatus: 503}, &liasmart.HTTPError{StatusCode: 503, RetryAfter: 2 * time.Minute})
	http429far := ctrack(liasmart.Result{HTTPStatus: 429}, &liasmart.HTTPError{StatusCode: 429, RetryAfter: time.Hour})
	timeout := ctrack(liasmart.Result{}, fmt.Errorf("%w after 10s", liasmart.ErrTimeout))
	probe := func(c call) call { c.probe = true; return c }
	word := call{answer: confirm.Answer{Outcome: confirm.Permanent, Status: "ValidationException", Meaning: "bad id", HTTPStatus: 400}}
	for _, c := range []struct {
		name      string
		budget    int
		call      call
		state     store.State
		signal    signal
		spends    bool
		exhausted bool
		next      time.Duration // 0: none
		status    string        // the attempt's vendor_status
	}{
		{"1000", 0, answer(1000), store.StateConfirmed, answered, true, false, 0, "1000"},
		{"1009", 0, answer(1009), store.StateAlreadyConfirmed, answered, true, false, 0, "1009"},
		{"1008 fails", 0, answer(1008), store.StateFailed, answered, true, false, 0, "1008"},
		{"1004 parks, spends nothing", 0, answer(1004), store.StatePaused, refused, false, false, time.Minute, "1004"},
		{"503 honours Retry-After", 0, http503, store.StateRetrying, transient, true, false, 2 * time.Minute, "HTTP 503"},
		{"429 Retry-After capped at the largest delay", 0, http429far, store.StateRetrying, transient, true, false, 5 * time.Minute, "HTTP 429"},
		{"timeout follows the schedule", 1, timeout, store.StateRetrying, transient, true, false, time.Minute, ""},
		{"undocumented code retries, vendor answered", 0, answer(1234), store.StateRetrying, answered, true, false, 5 * time.Second, "1234"},
		{"last transient failure: failed, exhausted", 2, timeout, store.StateFailed, transient, true, true, 0, ""},
		{"last undocumented code: failed, not exhausted", 2, answer(1234), store.StateFailed, answered, true, false, 0, "1234"},
		{"probe answered 1000", 2, probe(answer(1000)), store.StateConfirmed, answered, false, false, 0, "1000"},
		{"probe unanswered proves nothing: parked", 2, probe(http503), store.StatePaused, transient, false, false, time.Minute, "HTTP 503"},
		{"probe refused: parked", 0, probe(answer(1003)), store.StatePaused, refused, false, false, time.Minute, "1003"},
		{"a vendor's word fails, no code", 0, word, store.StateFailed, answered, true, false, 0, "ValidationException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := store.Event{ID: uuid.New(), BudgetUsed: c.budget, Attempts: 7, Generation: 3}
			v := decide(pol, ev, c.call, now)
			r := v.result
			if r.State != c.state || v.signal != c.signal || r.SpendsBudget != c.spends || r.Exhausted != c.exhausted {
				t.Fatalf("state %s signal %d spends %v exhausted %v; want %s %d %v %v",
					r.State, v.signal, r.SpendsBudget, r.Exhausted, c.state, c.signal, c.spends, c.exhausted)
			}
			switch {
			case c.next == 0 && r.NextAttemptAt != nil:
				t.Errorf("next attempt %s, want none", r.NextAttemptAt)
			case c.next != 0 && (r.NextAttemptAt == nil || r.NextAttemptAt.Sub(now) != c.next):
				t.Errorf("next attempt %v, want now+%s", r.NextAttemptAt, c.next)
			}
			if r.Call == nil || r.Call.Attempt != 8 || r.Generation != 3 {
				t.Errorf("call %+v generation %d; want attempt 8 recorded for generation 3", r.Call, r.Generation)
			}
			if r.Call.VendorStatus != c.status {
				t.Errorf("vendor status %q, want %q", r.Call.VendorStatus, c.status)
			}
			// The code is the status where it is a number: a failure, a bare
			// HTTP status or a vendor's word has none.
			if n, err := strconv.Atoi(c.status); (err == nil) != (r.Call.VendorCode != nil) || (err == nil && *r.Call.VendorCode != n) {
				t.Errorf("vendor code %v for status %q, err %v: want the status where it is a number, else none", r.Call.VendorCode, c.status, c.call.err)
			}
		})
	}
}

func TestTally(t *testing.T) {
	t.Parallel()
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	code1004 := 1004
	got := tally([]vendorCall{
		{vendor: "a", done: at(3), signal: transient},
		{vendor: "a", done: at(1), signal: transient},
		{vendor: "a", done: at(2), signal: answered},
		{vendor: "b", done: at(1), signal: transient},
		{vendor: "b", done: at(2), signal: transient, probe: true},
		{vendor: "c", done: at(1), signal: answered, probe: true},
		{vendor: "d", done: at(1), signal: refused, reason: "vendor code 1004", code: &code1004},
	}, 20)
	want := map[string]string{
		"a": "answered=true failures=1 refused=false probe=false",  // the failure at 1 is before the answer
		"b": "answered=false failures=2 refused=false probe=false", // an unanswered probe resumes nothing
		"c": "answered=true failures=0 refused=false probe=true",
		"d": "answered=true failures=0 refused=true probe=false",
	}
	if len(got) != len(want) {
		t.Fatalf("%d tallies, want %d", len(got), len(want))
	}
	for _, tl := range got {
		s := fmt.Sprintf("answered=%v failures=%d refused=%v probe=%v", tl.Answered, tl.Failures, tl.Refused, tl.ProbeAnswered)
		if s != want[tl.Vendor] || tl.Threshold != 20 {
			t.Errorf("%s: %s (threshold %d), want %s", tl.Vendor, s, tl.Threshold, want[tl.Vendor])
		}
		if tl.Vendor == "d" && (tl.Code == nil || *tl.Code != 1004) {
			t.Errorf("refusal code %v, want 1004", tl.Code)
		}
	}
}

func TestBackoffSchedule(t *testing.T) {
	t.Parallel()
	b := Backoff{Schedule: []time.Duration{time.Second, 10 * time.Second}, Rand: func(n int64) int64 { return n - 1 }}
	if b.Delay(1) != time.Second || b.Delay(2) != 10*time.Second {
		t.Fatalf("in schedule: %s %s", b.Delay(1), b.Delay(2))
	}
	if d := b.Delay(5); d < 8*time.Second || d > 10*time.Second {
		t.Fatalf("past the end: %s, want the last delay less up to a fifth", d)
	}
	if d := b.After(1, time.Hour); d != 10*time.Second {
		t.Fatalf("Retry-After an hour: %s, want capped at 10s", d)
	}
	if d := b.After(1, 3*time.Second); d != 3*time.Second {
		t.Fatalf("Retry-After 3s: %s, want 3s", d)
	}
}
