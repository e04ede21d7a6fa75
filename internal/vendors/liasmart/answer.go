package liasmart

import (
	"errors"
	"fmt"
	"strconv"

	"relay/internal/vendors/confirm"
)

// Outcome is what a CTrack ErrorCode means in relay's terms:
//   - 1000 confirmed; 1009 already confirmed, a success;
//   - 1003/1004 credentials rejected: the vendor is paused;
//   - 1001/1002/1005/1006/1007/1008 a permanent failure of the event;
//   - any other code transient (retried up to the attempt budget, then
//     failed with the code kept).
func (c Code) Outcome() confirm.Outcome {
	switch c {
	case CodeOK:
		return confirm.Confirmed
	case CodeMessageAlreadyUpdate:
		return confirm.AlreadyConfirmed
	case CodeInvalidAPIID, CodeInvalidAPIPassword:
		return confirm.Credentials
	case CodeAPIIDMissing, CodeAPIPasswordMissing, CodeStatusMissing,
		CodeInvalidStatus, CodeMessageIDMissing, CodeInvalidMessageID:
		return confirm.Permanent
	}
	return confirm.Transient
}

// Answer turns what Confirm returned into relay's terms. A CTrack
// ErrorCode is a verdict; an HTTP status other than 2xx or 3xx is a
// transient answer of that status (5xx, 429, 404: CTrack's API did not
// speak); a 3xx, a timeout, a transport failure, a body over the limit or
// without a code is an error wrapping confirm's failure of that kind.
func Answer(res Result, err error) (confirm.Answer, error) {
	a := confirm.Answer{Outcome: confirm.Transient, HTTPStatus: res.HTTPStatus}
	var httpErr *HTTPError
	switch {
	case err == nil:
		a.Outcome = res.Code.Outcome()
		a.Status = strconv.Itoa(int(res.Code))
		a.Meaning = res.Code.Meaning()
		if !res.Code.Documented() && res.Description != "" {
			a.Meaning = res.Description
		}
		return a, nil
	case errors.As(err, &httpErr) && (httpErr.StatusCode < 300 || httpErr.StatusCode > 399):
		a.Status = confirm.HTTPStatusText(httpErr.StatusCode)
		a.Meaning = httpErr.Snippet
		a.RetryAfter = httpErr.RetryAfter
		return a, nil
	case errors.As(err, &httpErr):
		return a, fmt.Errorf("%w: %w", confirm.ErrUnreadable, err)
	case errors.Is(err, ErrTimeout):
		return a, fmt.Errorf("%w: %w", confirm.ErrTimeout, err)
	case errors.Is(err, ErrTooLarge):
		return a, fmt.Errorf("%w: %w", confirm.ErrTooLarge, err)
	case errors.Is(err, ErrBadResponse):
		return a, fmt.Errorf("%w: %w", confirm.ErrUnreadable, err)
	}
	return a, fmt.Errorf("%w: %w", confirm.ErrTransport, err)
}
