package liasmart

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"relay/internal/vendors/confirm"
)

// Confirm reports conv's message as converted, in relay's terms: Call,
// then Answer. CTrack takes no conversion time.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	return Answer(c.Call(ctx, conv.MessageID))
}

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

// Answer turns what Call returned into relay's terms. A CTrack
// ErrorCode is a verdict; an HTTP status other than 2xx is a transient
// answer of that status (5xx, 429, 404, a redirect: CTrack's API did not
// speak); a timeout, a transport failure, a body over the limit or
// without a code is an error wrapping confirm's failure of that kind.
func Answer(res Result, err error) (confirm.Answer, error) {
	a := confirm.Answer{Outcome: confirm.Transient, HTTPStatus: res.HTTPStatus}
	var httpErr *HTTPError
	switch {
	case err == nil:
		a.Outcome = res.Code.Outcome()
		a.Status = strconv.Itoa(int(res.Code))
		a.Meaning = res.Code.Meaning()
		return a, nil
	case errors.As(err, &httpErr):
		a.Status = confirm.HTTPStatusText(httpErr.StatusCode)
		a.Meaning = httpErr.Snippet
		// A 429 or 503 says when to come back; elsewhere the header is
		// not CTrack's word on the event.
		if httpErr.StatusCode == http.StatusTooManyRequests || httpErr.StatusCode == http.StatusServiceUnavailable {
			a.RetryAfter = httpErr.RetryAfter
		}
		return a, nil
	case errors.Is(err, ErrTimeout):
		return a, confirm.Fail(confirm.ErrTimeout, err)
	case errors.Is(err, ErrTooLarge):
		return a, confirm.Fail(confirm.ErrTooLarge, err)
	case errors.Is(err, ErrBadResponse):
		return a, confirm.Fail(confirm.ErrUnreadable, err)
	}
	return a, confirm.Fail(confirm.ErrTransport, err)
}
