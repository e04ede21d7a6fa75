package outbound

import (
	"slices"
	"time"

	"github.com/google/uuid"

	"relay/internal/store"
	"relay/internal/vendors/confirm"
)

// call is one vendor call as made.
type call struct {
	answer   confirm.Answer
	err      error
	started  time.Time
	duration time.Duration
	done     time.Time
	probe    bool
}

// policy is what decide needs of the configuration.
type policy struct {
	maxAttempts int
	backoff     Backoff
	probe       time.Duration
}

// signal is what one call said about the vendor itself.
type signal int

const (
	// answered: the vendor answered with an ErrorCode; it is up.
	answered signal = iota + 1
	// transient: no answer (5xx, 429, timeout, connection, unreadable).
	transient
	// refused: our credentials were refused (1003/1004).
	refused
)

// verdict is everything decided about one call: the event's next state
// for PostgreSQL, and what the call says about the vendor.
type verdict struct {
	result   store.Result
	decision Decision
	signal   signal
	delay    time.Duration // the retry's delay, for the log
}

// decide turns a vendor call into the event's next state. It is pure: the
// batch applies the verdicts of all its calls in one transaction.
func decide(p policy, ev store.Event, c call, now time.Time) verdict {
	decision := Classify(c.answer)
	attempt := &store.Attempt{
		CallID: uuid.New(), EventID: ev.ID, Attempt: ev.Attempts + 1,
		StartedAt: c.started, Duration: c.duration, Outcome: decision.String(),
	}
	if c.answer.HTTPStatus != 0 {
		s := c.answer.HTTPStatus
		attempt.HTTPStatus = &s
	}
	if c.err == nil {
		// Both from the same answer: a failed call's Answer is no vendor's word.
		attempt.VendorCode, attempt.VendorStatus = c.answer.Code(), c.answer.Status
	}
	noVerdict := verdictless(c.answer, c.err)
	switch {
	case c.err != nil:
		attempt.Error = c.err.Error()
	case noVerdict:
		attempt.Error = ev.Vendor + ": " + c.answer.Status
		if c.answer.Meaning != "" {
			attempt.Error += ": " + c.answer.Meaning
		}
	case decision != Confirmed && decision != AlreadyConfirmed:
		attempt.Error = "vendor code " + c.answer.Status + ": " + c.answer.Meaning
	}
	v := verdict{decision: decision, signal: answered}
	if noVerdict {
		v.signal = transient
	}
	r := store.Result{EventID: ev.ID, Vendor: ev.Vendor, Call: attempt, LastError: attempt.Error, Generation: ev.Generation,
		// A probe belongs to the vendor, not to the event: it spends no budget.
		SpendsBudget: decision != Pause && !c.probe}
	park := func() {
		next := now.Add(p.probe)
		r.State, r.NextAttemptAt, r.SpendsBudget = store.StatePaused, &next, false
	}
	switch decision {
	case Confirmed:
		r.State = store.StateConfirmed
	case AlreadyConfirmed:
		r.State = store.StateAlreadyConfirmed
	case Fail:
		r.State = store.StateFailed
	case Pause:
		v.signal = refused
		park()
	case Retry:
		if c.probe && noVerdict {
			// A probe without an answer proves nothing: still paused.
			park()
			break
		}
		spent := ev.BudgetUsed + 1
		if spent >= p.maxAttempts {
			r.State = store.StateFailed
			// Transient failures only: the plan parks the event instead
			// if the vendor turns out to be down rather than refusing it.
			r.Exhausted = noVerdict
			break
		}
		v.delay = p.backoff.After(spent, c.answer.RetryAfter)
		next := now.Add(v.delay)
		r.State, r.NextAttemptAt = store.StateRetrying, &next
	}
	v.result = r
	return v
}

// vendorTally is what a batch's calls said about a vendor itself.
type vendorTally struct {
	Vendor string
	// Answered is true when some call got an answer with a verdict.
	Answered bool
	// Failures counts the transient failures after the last answered call
	// (all of them when none was answered): added to the fleet's count of
	// consecutive failures, or replacing it when Answered.
	Failures int
	// Threshold pauses the vendor as unavailable once the fleet's count
	// reaches it; 0 turns the breaker off.
	Threshold int
	// Refused is true when the vendor refused our credentials: it is
	// paused (kind credentials) with Reason.
	Refused bool
	Reason  string
	Code    *int
	// ProbeAnswered is true when a probe call got an answer other than a
	// refusal: the vendor is resumed.
	ProbeAnswered bool
}

// vendorCall is one call of a batch as the tally sees it.
type vendorCall struct {
	vendor string
	done   time.Time
	signal signal
	probe  bool
	reason string // a refusal's
	code   *int   // a refusal's vendor code, where it is a number
}

// tally sums up what a batch's calls said about each vendor, in the order
// the calls ended: whether the vendor answered, the transient failures
// since its last answer, a refusal of our credentials, a probe answered.
func tally(calls []vendorCall, threshold int) []vendorTally {
	slices.SortStableFunc(calls, func(a, b vendorCall) int { return a.done.Compare(b.done) })
	by := map[string]*vendorTally{}
	var order []string
	for _, c := range calls {
		t := by[c.vendor]
		if t == nil {
			t = &vendorTally{Vendor: c.vendor, Threshold: threshold}
			by[c.vendor] = t
			order = append(order, c.vendor)
		}
		switch c.signal {
		case answered:
			t.Answered, t.Failures = true, 0
			if c.probe {
				t.ProbeAnswered = true
			}
		case transient:
			t.Failures++
		case refused:
			t.Answered, t.Failures = true, 0
			if !t.Refused {
				t.Refused, t.Reason, t.Code = true, c.reason, c.code
			}
		}
	}
	out := make([]vendorTally, 0, len(order))
	for _, v := range order {
		out = append(out, *by[v])
	}
	return out
}
