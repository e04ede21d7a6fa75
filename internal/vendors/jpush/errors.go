package jpush

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrNotConfigured is wrapped by the error of a balance call whose
	// credential pair is not (completely) set; no request is made.
	ErrNotConfigured = errors.New("credentials not configured")

	// ErrInvalidConfig is wrapped by errors about a Config that cannot
	// work, such as a BaseURL with a path.
	ErrInvalidConfig = errors.New("invalid config")

	// ErrUnauthorized matches (with errors.Is) an *APIError saying the
	// credentials were rejected, so that a monitor can raise a
	// bad-credentials alert instead of a generic failure.
	ErrUnauthorized = errors.New("credentials rejected")

	// ErrBadResponse is wrapped by errors for 2xx answers that are neither
	// a balance nor an error object. They are retryable: a gateway page or
	// a truncated body says nothing about the account.
	ErrBadResponse = errors.New("unparseable response")
)

// authCodes are the error codes that mean "credentials rejected". The seed
// lists none (its 返回码 table is empty); 50001 is "auth failed" in
// JPush's published JSMS code table. HTTP 401 and 403 are recognised
// whatever the code.
var authCodes = map[int]bool{
	50001: true,
}

// APIError is the vendor's {"error":{"code":N,"message":"..."}}, or a
// non-2xx status without such a body (Code 0, Message empty).
type APIError struct {
	// HTTPStatus is the response status; JPush may also send the error
	// object with 200.
	HTTPStatus int
	// Code is error.code, 0 when absent.
	Code int
	// Message is error.message with any credential removed, then made
	// valid one-line UTF-8 and cut to 200 bytes (see vendorbody).
	Message string
}

// Error reads "HTTP 401 Unauthorized: code 50001: "auth failed"", leaving
// out the parts the answer lacked.
func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.HTTPStatus)
	if t := http.StatusText(e.HTTPStatus); t != "" {
		s += " " + t
	}
	if e.Code != 0 {
		s += fmt.Sprintf(": code %d", e.Code)
	}
	if e.Message != "" {
		// Quoted: the text comes from the network and must not forge
		// log lines.
		s += fmt.Sprintf(": %q", e.Message)
	}
	return s
}

// Is makes errors.Is(err, ErrUnauthorized) true for rejected credentials.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && e.unauthorized()
}

func (e *APIError) unauthorized() bool {
	return e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden || authCodes[e.Code]
}

func (e *APIError) retryable() bool {
	switch {
	case e.unauthorized():
		return false
	case e.HTTPStatus >= 500, e.HTTPStatus == http.StatusTooManyRequests, e.HTTPStatus == http.StatusRequestTimeout:
		return true
	case e.HTTPStatus >= 200 && e.HTTPStatus <= 299:
		// An error object under 200 with an unknown code carries no
		// transport-level verdict; the request never changes, so only the
		// vendor's state can change the answer: ask again, bounded by the
		// caller's attempts.
		return true
	}
	// Other 4xx and 3xx: the request or the BaseURL is wrong, and asking
	// again sends the same request.
	return false
}

// transportError is a failure to get a complete response: connection
// refused or reset, timeout, TLS, a body cut short.
type transportError struct {
	err error
	// ctxErr is the call's context error when the failure happened, since
	// a body read cut by cancellation does not always say so itself.
	ctxErr error
}

func (e *transportError) Error() string { return e.err.Error() }

func (e *transportError) Unwrap() []error {
	if e.ctxErr == nil {
		return []error{e.err}
	}
	return []error{e.err, e.ctxErr}
}

// Retryable reports whether asking again later may succeed: network
// failures, timeouts, HTTP 5xx, 429 and 408, and unparseable 2xx bodies
// are; rejected credentials (HTTP 401/403, auth codes), other 4xx, a
// missing or invalid configuration and a call cancelled by its caller are
// not.
func Retryable(err error) bool {
	var apiErr *APIError
	var tErr *transportError
	switch {
	case err == nil:
		return false
	case errors.As(err, &apiErr):
		return apiErr.retryable()
	case errors.Is(err, ErrBadResponse):
		return true
	case errors.As(err, &tErr):
		// The caller gave up: retrying would outlive its interest. Our own
		// timeout shows as DeadlineExceeded and is retried.
		return !errors.Is(err, context.Canceled)
	}
	return false
}
