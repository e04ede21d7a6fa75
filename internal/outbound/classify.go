// Package outbound confirms accepted registrations with the vendor: the
// JetStream workers, the retry policy and the one function that decides
// what a vendor's answer means for an event.
package outbound

import (
	"context"
	"fmt"

	"relay/internal/vendors/confirm"
)

// Confirmer tells a vendor that a message converted, and says in relay's
// terms what the vendor answered (confirm.Answer): each vendor's package
// classifies its own codes. An error means no verdict could be read (the
// Answer is then transient).
type Confirmer interface {
	Confirm(ctx context.Context, c confirm.Conversion) (confirm.Answer, error)
}

// Decision is what to do with an event after a vendor call.
type Decision int

// The decisions Classify makes.
const (
	// Confirmed: the vendor recorded the conversion now (1000).
	Confirmed Decision = iota + 1
	// AlreadyConfirmed: it was recorded before (1009); a success.
	AlreadyConfirmed
	// Retry later with backoff, spending one attempt of the budget.
	Retry
	// Fail now: the vendor will never accept this event.
	Fail
	// Pause the vendor: our credentials are rejected. The event waits
	// without spending its budget.
	Pause
)

func (d Decision) String() string {
	switch d {
	case Confirmed:
		return "confirmed"
	case AlreadyConfirmed:
		return "already_confirmed"
	case Retry:
		return "retry"
	case Fail:
		return "fail"
	case Pause:
		return "pause"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Classify turns an answer's outcome into the worker's decision:
//   - confirmed and already confirmed are successes;
//   - credentials rejected pause the vendor;
//   - a permanent answer fails the event;
//   - anything transient (transport errors, timeouts, non-2xx, unparseable
//     bodies, undocumented codes) is retried with backoff.
func Classify(a confirm.Answer) Decision {
	switch a.Outcome {
	case confirm.Confirmed:
		return Confirmed
	case confirm.AlreadyConfirmed:
		return AlreadyConfirmed
	case confirm.Credentials:
		return Pause
	case confirm.Permanent:
		return Fail
	}
	return Retry
}

// verdictless reports whether a call got no word from the vendor's API
// on the event: an error, or a transient answer that is only a non-2xx
// status (5xx, 429, a redirect). A transient answer the API wrote itself
// (an undocumented code on a 200) shows the vendor up.
func verdictless(a confirm.Answer, err error) bool {
	return err != nil || (a.Outcome == confirm.Transient && (a.HTTPStatus < 200 || a.HTTPStatus > 299))
}
