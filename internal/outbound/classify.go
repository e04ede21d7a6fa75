// Package outbound confirms accepted registrations with the vendor: the
// JetStream workers, the retry policy and the one function that decides
// what a vendor's answer means for an event.
package outbound

import (
	"context"
	"fmt"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart"
)

// Confirmer tells a vendor that a message converted. *liasmart.Client is
// one; tests use others.
type Confirmer interface {
	Confirm(ctx context.Context, messageID string) (liasmart.Result, error)
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

// Classify decides what a CTrack answer (or failure to get one) means.
// The vendor's codes are the vendor package's to classify
// (liasmart.Answer); this turns its outcome into the worker's decision:
//   - confirmed and already confirmed are successes;
//   - credentials rejected pause the vendor;
//   - a permanent answer fails the event;
//   - anything transient (transport errors, timeouts, non-2xx, unparseable
//     bodies, undocumented codes) is retried with backoff.
func Classify(res liasmart.Result, err error) Decision {
	a, _ := liasmart.Answer(res, err)
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
