package outbound

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/bus"
	"relay/internal/store"
)

// recordBatch records b with the tallies as a worker's batch would: the
// vendors the plan reads locked, the plan made from what the store locked.
func recordBatch(ctx context.Context, st Recorder, b store.Batch, tallies []vendorTally) (store.BatchOutcome, error) {
	b.Vendors = lockedVendors(tallies, b.Results)
	seed, now := uuid.New(), time.Now()
	return st.RecordBatch(ctx, b, func(s store.BatchState) store.Plan {
		return plan(planInput{state: s, tallies: tallies, seed: seed, probe: time.Hour, now: now})
	})
}

var (
	planNow   = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	planToken = uuid.MustParse("00000000-0000-0000-0000-0000000000aa")
	planEv    = uuid.MustParse("00000000-0000-0000-0000-000000000001")
)

func mine() *uuid.UUID { t := planToken; return &t }

// planCase is one batch of one event of vendor "v" and the rows locked.
type planCase struct {
	name   string
	result store.Result
	event  store.LockedEvent
	vendor store.VendorStatus // "v"'s row
	tally  *vendorTally
	token  uuid.UUID

	// What the plan must say.
	state     store.State
	budget    int
	lastError string // "-": kept
	failures  int    // "v"'s count written; -1: no write (reset without lock)
	pause     string // kind paused, "" none
	reason    string
	resume    string // kind lifted, "" none
	alerts    string // the alert kinds written, in order
}

func TestPlan(t *testing.T) {
	t.Parallel()
	next := planNow.Add(time.Minute)
	code := 1004
	call := &store.Attempt{CallID: uuid.New(), EventID: planEv, Attempt: 3, VendorStatus: "x"}
	transientFail := store.Result{EventID: planEv, Vendor: "v", State: store.StateRetrying, Call: call, SpendsBudget: true,
		NextAttemptAt: &next, LastError: "HTTP 503"}
	exhausted := transientFail
	exhausted.State, exhausted.NextAttemptAt, exhausted.Exhausted = store.StateFailed, nil, true
	confirmed := store.Result{EventID: planEv, Vendor: "v", State: store.StateConfirmed, Call: call, SpendsBudget: true}
	refusedResult := store.Result{EventID: planEv, Vendor: "v", State: store.StatePaused, Call: call, NextAttemptAt: &next,
		LastError: "vendor code 1004: bad key"}
	pending := store.LockedEvent{State: store.StatePending, ClaimedBy: mine()}
	atLast := store.LockedEvent{State: store.StateRetrying, BudgetUsed: 4, ClaimedBy: mine()}
	up := store.VendorStatus{Vendor: "v"}
	pausedUnavailable := store.VendorStatus{Vendor: "v", Paused: true, Kind: store.PauseUnavailable}
	pausedCredentials := store.VendorStatus{Vendor: "v", Paused: true, Kind: store.PauseCredentials}

	cases := []planCase{
		{name: "answered: count reset without lock", result: confirmed, event: pending, vendor: up,
			tally: &vendorTally{Answered: true, Threshold: 5}, state: store.StateConfirmed, budget: 1, lastError: "", failures: -1},
		{name: "answered after failures: the batch's count replaces the fleet's", result: transientFail, event: pending,
			vendor: store.VendorStatus{Vendor: "v", Failures: 4}, tally: &vendorTally{Answered: true, Failures: 2, Threshold: 5},
			state: store.StateRetrying, budget: 1, lastError: "HTTP 503", failures: 2},
		{name: "transient below threshold: added to the fleet's count", result: transientFail, event: pending,
			vendor: store.VendorStatus{Vendor: "v", Failures: 2}, tally: &vendorTally{Failures: 1, Threshold: 5},
			state: store.StateRetrying, budget: 1, lastError: "HTTP 503", failures: 3},
		{name: "breaker trips at threshold", result: transientFail, event: pending,
			vendor: store.VendorStatus{Vendor: "v", Failures: 4}, tally: &vendorTally{Failures: 1, Threshold: 5},
			state: store.StateRetrying, budget: 1, lastError: "HTTP 503", failures: 5,
			pause: store.PauseUnavailable, reason: "5 consecutive transient failures across the fleet", alerts: "vendor_unavailable"},
		{name: "breaker off (threshold 0)", result: transientFail, event: pending,
			vendor: store.VendorStatus{Vendor: "v", Failures: 400}, tally: &vendorTally{Failures: 1},
			state: store.StateRetrying, budget: 1, lastError: "HTTP 503", failures: 401},
		{name: "already paused: no second trip", result: transientFail, event: pending,
			vendor: store.VendorStatus{Vendor: "v", Paused: true, Kind: store.PauseUnavailable, Failures: 9}, tally: &vendorTally{Failures: 1, Threshold: 5},
			state: store.StateRetrying, budget: 1, lastError: "HTTP 503", failures: 10},
		{name: "refusal pauses for credentials", result: refusedResult, event: pending, vendor: up,
			tally: &vendorTally{Answered: true, Refused: true, Reason: "vendor code 1004: bad key", Code: &code, Threshold: 5},
			state: store.StatePaused, lastError: "vendor code 1004: bad key", failures: 0,
			pause: store.PauseCredentials, reason: "vendor code 1004: bad key", alerts: "credentials_rejected"},
		{name: "refusal while paused for credentials: nothing new", result: refusedResult, event: pending, vendor: pausedCredentials,
			tally: &vendorTally{Answered: true, Refused: true, Reason: "vendor code 1004: bad key", Threshold: 5},
			state: store.StatePaused, lastError: "vendor code 1004: bad key", failures: 0},
		{name: "refusal while paused as unavailable: paused for credentials", result: refusedResult, event: pending, vendor: pausedUnavailable,
			tally: &vendorTally{Answered: true, Refused: true, Reason: "vendor code 1004: bad key", Threshold: 5},
			state: store.StatePaused, lastError: "vendor code 1004: bad key", failures: 0,
			pause: store.PauseCredentials, reason: "vendor code 1004: bad key", alerts: "credentials_rejected"},
		{name: "exhausted during an outage: parked, budget kept, vendor paused", result: exhausted, event: atLast,
			vendor: store.VendorStatus{Vendor: "v", Failures: 4}, tally: &vendorTally{Failures: 1, Threshold: 20},
			state: store.StatePaused, budget: 0, lastError: "HTTP 503" + outageNote, failures: 5,
			pause: store.PauseUnavailable, reason: "no answer to the last 5 calls, and an event's retry budget ran out", alerts: "vendor_unavailable"},
		{name: "exhausted while paused: parked, no new pause", result: exhausted, event: atLast, vendor: pausedUnavailable,
			tally: &vendorTally{Failures: 1, Threshold: 20}, state: store.StatePaused, budget: 0, lastError: "HTTP 503" + outageNote, failures: 1},
		{name: "exhausted while the fleet's count is short of the event's failures: failed", result: exhausted, event: atLast,
			vendor: store.VendorStatus{Vendor: "v", Failures: 3}, tally: &vendorTally{Failures: 1, Threshold: 20},
			state: store.StateFailed, budget: 1, lastError: "HTTP 503", failures: 4},
		{name: "exhausted while the vendor answers others: failed", result: exhausted, event: atLast, vendor: up,
			tally: &vendorTally{Answered: true, Threshold: 20}, state: store.StateFailed, budget: 1, lastError: "HTTP 503", failures: 0},
		{name: "exhausted with the breaker off: failed", result: exhausted, event: atLast,
			vendor: store.VendorStatus{Vendor: "v", Failures: 50}, tally: &vendorTally{Failures: 1},
			state: store.StateFailed, budget: 1, lastError: "HTTP 503", failures: 51},
		{name: "probe answered resumes an unavailable pause", result: confirmed, event: pending, vendor: pausedUnavailable,
			tally: &vendorTally{Answered: true, ProbeAnswered: true, Threshold: 5}, state: store.StateConfirmed, budget: 1, lastError: "",
			failures: 0, resume: store.PauseUnavailable, alerts: "vendor_available"},
		{name: "probe answered resumes a credentials pause", result: confirmed, event: pending, vendor: pausedCredentials,
			tally: &vendorTally{Answered: true, ProbeAnswered: true, Threshold: 5}, state: store.StateConfirmed, budget: 1, lastError: "",
			failures: 0, resume: store.PauseCredentials, alerts: "credentials_accepted"},
		{name: "probe answered while not paused: nothing to resume", result: confirmed, event: pending, vendor: up,
			tally: &vendorTally{Answered: true, ProbeAnswered: true, Threshold: 5}, state: store.StateConfirmed, budget: 1, lastError: "", failures: 0},
		{name: "probe unanswered resumes nothing", result: store.Result{EventID: planEv, Vendor: "v", State: store.StatePaused, Call: call,
			NextAttemptAt: &next, LastError: "HTTP 503"}, event: store.LockedEvent{State: store.StatePaused, ClaimedBy: mine()}, vendor: pausedUnavailable,
			tally: &vendorTally{Failures: 1, Threshold: 5}, state: store.StatePaused, lastError: "HTTP 503", failures: 1},

		// The final-state guard.
		// The call spends its budget all the same; a success's error is none.
		{name: "confirmed is never undone", result: transientFail, event: store.LockedEvent{State: store.StateConfirmed, ClaimedBy: mine()},
			state: store.StateConfirmed, budget: 1, lastError: "", failures: -1},
		{name: "failed is not undone by a failure", result: transientFail, event: store.LockedEvent{State: store.StateFailed, ClaimedBy: mine()},
			state: store.StateFailed, budget: 1, lastError: "-", failures: -1},
		{name: "failed moves to a success", result: confirmed, event: store.LockedEvent{State: store.StateFailed, ClaimedBy: mine()},
			state: store.StateConfirmed, budget: 1, lastError: "", failures: -1},
		{name: "already_confirmed moves to confirmed", result: confirmed, event: store.LockedEvent{State: store.StateAlreadyConfirmed, ClaimedBy: mine()},
			state: store.StateConfirmed, budget: 1, lastError: "", failures: -1},
		{name: "already_confirmed is not undone by a failure", result: transientFail,
			event: store.LockedEvent{State: store.StateAlreadyConfirmed, ClaimedBy: mine()}, state: store.StateAlreadyConfirmed, budget: 1, lastError: "", failures: -1},
		// The generation and the claim.
		{name: "older generation: only the call", result: transientFail, event: store.LockedEvent{State: store.StatePending, Generation: 1, ClaimedBy: mine()},
			state: store.StatePending, budget: 0, lastError: "-", failures: -1},
		{name: "older generation: a success lands, spending nothing", result: confirmed,
			event: store.LockedEvent{State: store.StatePending, Generation: 1, ClaimedBy: mine()}, state: store.StateConfirmed, budget: 0, lastError: "", failures: -1},
		{name: "claim taken over: only the call", result: transientFail, event: store.LockedEvent{State: store.StatePending},
			state: store.StatePending, budget: 0, lastError: "-", failures: -1},
		// The state the result names is the row's already: its schedule
		// and error are written, its budget is not spent.
		{name: "claim taken over, same state: no budget", result: transientFail, event: store.LockedEvent{State: store.StateRetrying},
			state: store.StateRetrying, budget: 0, lastError: "HTTP 503", failures: -1},
		{name: "no claim (a tool): current", result: transientFail, event: store.LockedEvent{State: store.StatePending, Generation: 3},
			token: uuid.Nil, state: store.StateRetrying, budget: 1, lastError: "HTTP 503", failures: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			token := planToken
			if c.name == "no claim (a tool): current" {
				token = c.token
			}
			in := planInput{state: store.BatchState{Token: token, Results: []store.Result{c.result},
				Events: map[uuid.UUID]store.LockedEvent{planEv: c.event}, Vendors: map[string]store.VendorStatus{"v": c.vendor}},
				seed: planToken, probe: time.Hour, now: planNow}
			if c.tally != nil {
				tl := *c.tally
				tl.Vendor = "v"
				in.tallies = []vendorTally{tl}
			}
			p := plan(in)
			if len(p.Events) != 1 {
				t.Fatalf("%d event writes, want 1", len(p.Events))
			}
			w := p.Events[0]
			if w.State != c.state || w.Budget != c.budget || w.Attempts != 1 {
				t.Errorf("state %s budget %d attempts %d, want %s %d 1", w.State, w.Budget, w.Attempts, c.state, c.budget)
			}
			switch {
			case c.lastError == "-" && w.SetLastError:
				t.Errorf("last error written (%q), want kept", w.LastError)
			case c.lastError != "-" && (!w.SetLastError || w.LastError != c.lastError):
				t.Errorf("last error %v %q, want %q", w.SetLastError, w.LastError, c.lastError)
			}
			if c.failures < 0 {
				if len(p.Vendors) != 0 {
					t.Errorf("vendor writes %+v, want none", p.Vendors)
				}
				return
			}
			if len(p.Vendors) != 1 || p.Vendors[0].Failures != c.failures {
				t.Fatalf("vendor writes %+v, want one with failures %d", p.Vendors, c.failures)
			}
			v := p.Vendors[0]
			var alerts []string
			switch {
			case c.pause == "" && v.Pause != nil:
				t.Errorf("paused %+v, want no pause", *v.Pause)
			case c.pause != "" && (v.Pause == nil || v.Pause.Kind != c.pause || v.Pause.Reason != c.reason):
				t.Errorf("pause %+v, want %s %q", v.Pause, c.pause, c.reason)
			case v.Pause != nil:
				alerts = append(alerts, alertKind(t, v.Pause.Alert))
			}
			switch {
			case c.resume == "" && v.Resume != nil:
				t.Errorf("resumed %+v, want no resume", *v.Resume)
			case c.resume != "" && (v.Resume == nil || v.Resume.Kind != c.resume || v.Resume.RedriveSubject != "relay.registrations.v"):
				t.Errorf("resume %+v, want of %s, re-driving relay.registrations.v", v.Resume, c.resume)
			case v.Resume != nil:
				alerts = append(alerts, alertKind(t, v.Resume.Alert))
			}
			if got := strings.Join(alerts, " "); got != c.alerts {
				t.Errorf("alerts %q, want %q", got, c.alerts)
			}
		})
	}
}

func alertKind(t *testing.T, m store.OutboxMessage) string {
	t.Helper()
	var a bus.Alert
	if err := json.Unmarshal(m.Payload, &a); err != nil || m.Subject != "relay.alerts."+a.Vendor || !strings.HasPrefix(m.MsgID, "alert:") {
		t.Errorf("alert %s %s %s: %v", m.Subject, m.MsgID, m.Payload, err)
	}
	return a.Kind
}

// TestPlanFieldsOfAWrite: what a write keeps and what it sets, beside
// the state: the schedule, the vendor's code, the confirmation stamp.
func TestPlanFieldsOfAWrite(t *testing.T) {
	t.Parallel()
	next := planNow.Add(time.Minute)
	code := 1000
	call := &store.Attempt{CallID: uuid.New(), EventID: planEv, VendorCode: &code, VendorStatus: "1000"}
	at := func(r store.Result, ev store.LockedEvent) store.EventWrite {
		p := plan(planInput{state: store.BatchState{Token: planToken, Results: []store.Result{r},
			Events: map[uuid.UUID]store.LockedEvent{planEv: ev}}})
		return p.Events[0]
	}
	w := at(store.Result{EventID: planEv, State: store.StateRetrying, Call: call, NextAttemptAt: &next, SpendsBudget: true},
		store.LockedEvent{State: store.StatePending, ClaimedBy: mine()})
	if !w.SetNext || w.NextAttemptAt != &next || w.VendorCode != &code || w.VendorStatus != "1000" || w.Confirmed {
		t.Errorf("retrying: %+v; want the schedule and the code written, no confirmation", w)
	}
	w = at(store.Result{EventID: planEv, State: store.StateConfirmed, Call: call}, store.LockedEvent{State: store.StateRetrying, ClaimedBy: mine()})
	if !w.SetNext || w.NextAttemptAt != nil || !w.Confirmed || w.Budget != 0 {
		t.Errorf("confirmed: %+v; want the schedule cleared, confirmed_at stamped, no budget (the call spends none)", w)
	}
	// A late failure of a confirmed event: the code of the answer that
	// confirmed it stays, the schedule is cleared, no second stamp.
	w = at(store.Result{EventID: planEv, State: store.StateRetrying, Call: &store.Attempt{CallID: uuid.New()}, NextAttemptAt: &next},
		store.LockedEvent{State: store.StateConfirmed, ClaimedBy: mine()})
	if !w.SetNext || w.NextAttemptAt != nil || w.VendorCode != nil || w.VendorStatus != "" || w.Confirmed || !w.SetLastError || w.LastError != "" {
		t.Errorf("late failure of a confirmed event: %+v; want the code kept, no schedule, no error, no second stamp", w)
	}
	// A park without a call keeps a paused event's error as it is.
	w = at(store.Result{EventID: planEv, State: store.StatePaused, NextAttemptAt: &next, LastError: "vendor paused: x"},
		store.LockedEvent{State: store.StatePaused, ClaimedBy: mine()})
	if w.Attempts != 0 || w.SetLastError || !w.SetNext {
		t.Errorf("park of a paused event: %+v; want no attempt, error kept, schedule written", w)
	}
	// An event the store did not find gets no write.
	if p := plan(planInput{state: store.BatchState{Token: planToken, Results: []store.Result{{EventID: planEv, State: store.StateConfirmed}}}}); len(p.Events) != 0 {
		t.Errorf("writes for a missing event: %+v", p.Events)
	}
}

// TestPlanAlertIDsAreTheBatchs: a retry of the same batch plans the same
// alert ids, another batch other ones.
func TestPlanAlertIDsAreTheBatchs(t *testing.T) {
	t.Parallel()
	in := planInput{state: store.BatchState{Vendors: map[string]store.VendorStatus{"v": {Vendor: "v", Failures: 4}}},
		tallies: []vendorTally{{Vendor: "v", Failures: 1, Threshold: 5}}, seed: planToken, probe: time.Hour, now: planNow}
	a, b := plan(in), plan(in)
	in.seed = uuid.New()
	c := plan(in)
	if a.Vendors[0].Pause.Alert.MsgID != b.Vendors[0].Pause.Alert.MsgID || a.Vendors[0].Pause.Alert.MsgID == c.Vendors[0].Pause.Alert.MsgID {
		t.Errorf("alert ids %s, %s, %s; want the first two equal, the third different",
			a.Vendors[0].Pause.Alert.MsgID, b.Vendors[0].Pause.Alert.MsgID, c.Vendors[0].Pause.Alert.MsgID)
	}
}

// TestLockedVendors: only a vendor whose tally is more than "every call
// answered" has its row locked, unless some result is exhausted.
func TestLockedVendors(t *testing.T) {
	t.Parallel()
	tallies := []vendorTally{{Vendor: "ok", Answered: true}, {Vendor: "failing", Failures: 1}, {Vendor: "probe", Answered: true, ProbeAnswered: true}}
	if got := strings.Join(lockedVendors(tallies, nil), " "); got != "failing probe" {
		t.Errorf("locked %q, want \"failing probe\"", got)
	}
	if got := strings.Join(lockedVendors(tallies, []store.Result{{Exhausted: true}}), " "); got != "ok failing probe" {
		t.Errorf("locked with an exhausted result %q, want all three", got)
	}
}
