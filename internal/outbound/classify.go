// Package outbound confirms accepted registrations with the vendor: the
// JetStream workers, the retry policy and the one function that decides
// what a vendor's answer means for an event.
package outbound

import (
	"context"
	"fmt"

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

// Classify decides what a CTrack answer (or failure to get one) means. It
// is the only place where codes turn into behaviour:
//   - 1000 confirmed; 1009 already confirmed, a success;
//   - 1003/1004 credentials rejected: pause the vendor;
//   - 1001/1002/1005/1006/1007/1008 permanent failure of the event;
//   - transport errors, timeouts, non-2xx (5xx, 429, ...), unparseable
//     bodies and undocumented codes: retry with backoff.
func Classify(res liasmart.Result, err error) Decision {
	if err != nil {
		// Every error the client returns (*HTTPError, ErrTimeout,
		// ErrBadResponse, transport) is about this call, not about the
		// event: nothing in it proves the event can never succeed.
		return Retry
	}
	switch res.Code {
	case liasmart.CodeOK:
		return Confirmed
	case liasmart.CodeMessageAlreadyUpdate:
		return AlreadyConfirmed
	case liasmart.CodeInvalidAPIID, liasmart.CodeInvalidAPIPassword:
		return Pause
	case liasmart.CodeAPIIDMissing, liasmart.CodeAPIPasswordMissing, liasmart.CodeStatusMissing,
		liasmart.CodeInvalidStatus, liasmart.CodeMessageIDMissing, liasmart.CodeInvalidMessageID:
		return Fail
	default:
		return Retry
	}
}
