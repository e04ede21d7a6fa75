package outbound

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"relay/internal/bus"
	"relay/internal/store"
)

// planInput is everything a batch's fate is decided from: its results
// (decide's verdicts), what its calls said about each vendor, and the rows
// the store locked for it.
type planInput struct {
	state   store.BatchState
	tallies []vendorTally
	// seed makes the alerts' message ids: one per batch, so that a retry
	// of the same batch writes the same ids.
	seed  uuid.UUID
	probe time.Duration
	now   time.Time
}

// outageNote ends the last error of an event an outage would have failed:
// it is parked instead.
const outageNote = " (vendor unavailable: waiting, budget kept)"

// plan decides a batch's fate from what the store locked: each vendor's
// breaker count, pause or resume with its one alert, and each event's new
// row. It is pure; the store applies the plan as it is.
//
//   - A refusal of our credentials pauses the vendor (credentials).
//   - The fleet's count of consecutive transient failures (replaced by the
//     batch's when a call was answered, else added to) reaching the
//     threshold pauses it (unavailable).
//   - An event whose last budget a transient failure spent is parked, its
//     budget kept, when its vendor is paused or no call has been answered
//     since its failures began: an outage fails no event. The vendor is
//     paused as unavailable if it was not.
//   - A probe answered (not refused) resumes a paused vendor and re-drives
//     its paused events; an unanswered probe resumes nothing.
//   - A final state is never undone: confirmed stays confirmed, failed and
//     already_confirmed move only to a success. A result for an older
//     generation, or for an event whose claim another batch took over,
//     records its call and, if it is a success, its state; nothing else.
func plan(in planInput) store.Plan {
	results := make([]store.Result, len(in.state.Results))
	copy(results, in.state.Results)
	var p store.Plan
	for _, t := range in.tallies {
		if t.Answered && t.Failures == 0 && !t.Refused && !t.ProbeAnswered && !anyExhausted(results) {
			// The common case: every call answered, nothing to decide.
			p.ResetFailures = append(p.ResetFailures, t.Vendor)
			continue
		}
		p.Vendors = append(p.Vendors, planVendor(in, t, results))
	}
	for _, r := range results {
		ev, ok := in.state.Events[r.EventID]
		if !ok {
			continue
		}
		p.Events = append(p.Events, planEvent(in.state.Token, ev, r))
	}
	return p
}

func anyExhausted(rs []store.Result) bool {
	for _, r := range rs {
		if r.Exhausted {
			return true
		}
	}
	return false
}

// lockedVendors are the vendors whose status rows plan reads: those whose
// tally is more than "every call answered".
func lockedVendors(tallies []vendorTally, results []store.Result) []string {
	var out []string
	exhausted := anyExhausted(results)
	for _, t := range tallies {
		if !t.Answered || t.Failures != 0 || t.Refused || t.ProbeAnswered || exhausted {
			out = append(out, t.Vendor)
		}
	}
	return out
}

// planVendor decides one vendor's breaker count, pause and resume, and
// parks the results an outage exhausted (see store.Result.Exhausted).
func planVendor(in planInput, t vendorTally, results []store.Result) store.VendorWrite {
	row := in.state.Vendors[t.Vendor]
	failures := t.Failures
	if !t.Answered {
		failures += row.Failures
	}
	w := store.VendorWrite{Vendor: t.Vendor, Failures: failures}
	paused, kind := row.Paused, row.Kind
	pause := func(k, reason string, alert store.OutboxMessage) {
		if paused && kind == k {
			return
		}
		paused, kind = true, k
		w.Pause = &store.VendorPause{Kind: k, Reason: reason, Alert: alert}
	}
	if t.Refused {
		pause(store.PauseCredentials, t.Reason, in.alert(t.Vendor, "credentials_rejected", t.Reason, t.Code))
	}
	if !paused && t.Threshold > 0 && failures >= t.Threshold {
		pause(store.PauseUnavailable, fmt.Sprintf("%d consecutive transient failures across the fleet", failures),
			in.alert(t.Vendor, "vendor_unavailable", "", nil))
	}
	for i := range results {
		r := &results[i]
		if !r.Exhausted || r.Call == nil || r.Vendor != t.Vendor {
			continue
		}
		if !paused && !(t.Threshold > 0 && !t.Answered && failures >= in.state.Events[r.EventID].BudgetUsed+1) {
			continue
		}
		if !paused {
			pause(store.PauseUnavailable, fmt.Sprintf("no answer to the last %d calls, and an event's retry budget ran out", failures),
				in.alert(t.Vendor, "vendor_unavailable", "", nil))
		}
		r.State, r.SpendsBudget, r.Exhausted = store.StatePaused, false, false
		r.LastError += outageNote
	}
	if t.ProbeAnswered && !t.Refused && paused {
		alert := "vendor_available"
		if kind == store.PauseCredentials {
			alert = "credentials_accepted"
		}
		w.Resume = &store.VendorResume{Kind: kind, Alert: in.alert(t.Vendor, alert, "", nil),
			RedriveSubject: bus.RegistrationSubject(t.Vendor), RedriveTag: "probe:" + in.state.Token.String()}
	}
	return w
}

func successful(s store.State) bool {
	return s == store.StateConfirmed || s == store.StateAlreadyConfirmed
}

// planEvent is r weighed against the event's row as locked.
func planEvent(token uuid.UUID, ev store.LockedEvent, r store.Result) store.EventWrite {
	// current: the result was decided for the event as it is now (same
	// generation, claim still the batch's). Only a current result may
	// change a state other than to a success, or spend budget.
	current := token == uuid.Nil || (ev.Generation == r.Generation && ev.ClaimedBy != nil && *ev.ClaimedBy == token)
	old, state := ev.State, r.State
	switch {
	case old == store.StateConfirmed:
		state = old
	case (old == store.StateAlreadyConfirmed || old == store.StateFailed) && !successful(r.State):
		state = old
	case old == store.StateAlreadyConfirmed && r.State == store.StateAlreadyConfirmed:
		state = old
	case !current && !successful(r.State):
		state = old
	}
	w := store.EventWrite{ID: r.EventID, Generation: ev.Generation, State: state}
	if r.Call != nil {
		w.Attempts = 1
		if current && r.SpendsBudget {
			w.Budget = 1
		}
	}
	taken := state == r.State // the result's state is the one written
	switch {
	case state != store.StateRetrying && state != store.StatePaused:
		w.SetNext = true
	case taken:
		w.SetNext, w.NextAttemptAt = true, r.NextAttemptAt
	}
	if taken && r.Call != nil {
		w.VendorCode, w.VendorStatus = r.Call.VendorCode, r.Call.VendorStatus
	}
	switch {
	case successful(state):
		w.SetLastError = true
	case taken && (state != old || r.Call != nil):
		w.SetLastError, w.LastError = true, r.LastError
	}
	w.Confirmed = successful(state) && state != old
	return w
}

// alert is the outbox message announcing one of vendor's transitions
// (kind: credentials_rejected, vendor_unavailable, credentials_accepted,
// vendor_available); refusal and code are a refusal's.
func (in planInput) alert(vendor, kind, refusal string, code *int) store.OutboxMessage {
	id := "alert:" + uuid.NewSHA1(in.seed, []byte(vendor+"\x00"+kind)).String()
	return alertMessage(vendor, kind, refusal, code, in.probe, in.now, id)
}

// alertMessage is one transition's alert, with message id id.
func alertMessage(vendor, kind, refusal string, code *int, probe time.Duration, now time.Time, id string) store.OutboxMessage {
	var text string
	switch kind {
	case "credentials_rejected":
		text = refusal + "; vendor paused, one probe call per " + probe.String()
	case "vendor_unavailable":
		text = "vendor not answering (RELAY_BREAKER_THRESHOLD consecutive transient failures); paused, one probe call per " + probe.String()
		code = nil
	case "credentials_accepted":
		text, code = "credentials accepted again; vendor resumed", nil
	case "vendor_available":
		text, code = "vendor answering again; resumed", nil
	}
	subject, _, data := bus.AlertMessage(bus.Alert{Vendor: vendor, Kind: kind, Message: text, Code: code, At: now.UTC()})
	return store.OutboxMessage{Subject: subject, MsgID: id, Payload: data}
}

// Recorder records batches; *store.Store is one.
type Recorder interface {
	RecordBatch(ctx context.Context, b store.Batch, decide func(store.BatchState) store.Plan) (store.BatchOutcome, error)
}

// PlanResults decides a batch of results that no vendor call of the batch
// speaks for (no breaker, pause or resume), as plan does: for tools and
// tests that record results directly.
func PlanResults(s store.BatchState) store.Plan { return plan(planInput{state: s}) }

// RecordResults records results without a claim, as a tool would, their
// fate decided as a worker's batch would decide it (a final state is never
// undone). It returns the events' rows as committed.
func RecordResults(ctx context.Context, st Recorder, results []store.Result) ([]store.Event, error) {
	out, err := st.RecordBatch(ctx, store.Batch{Results: results}, PlanResults)
	return out.Events, err
}
