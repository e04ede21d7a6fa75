package signedapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"

	"relay/internal/vendors/signedapi"
)

// TestClassify is the table for the one classification function: every
// documented code, undocumented ones, and every non-status failure.
func TestClassify(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("laaffic: getReport: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		want signedapi.Class
	}{
		{"nil", nil, signedapi.ClassNone},
		{"-1 auth", &signedapi.StatusError{Code: -1}, signedapi.ClassAccount},
		{"-2 IP", &signedapi.StatusError{Code: -2}, signedapi.ClassAccount},
		{"-11 time format", &signedapi.StatusError{Code: -11}, signedapi.ClassPermanent},
		{"-13 locked", &signedapi.StatusError{Code: -13}, signedapi.ClassAccount},
		{"-14 field empty", &signedapi.StatusError{Code: -14}, signedapi.ClassPermanent},
		{"-16 timestamp", &signedapi.StatusError{Code: -16}, signedapi.ClassRetryable},
		{"-16 with skew", &signedapi.SkewError{Skew: 1, Err: &signedapi.StatusError{Code: -16}}, signedapi.ClassRetryable},
		{"-18 port program", &signedapi.StatusError{Code: -18}, signedapi.ClassRetryable},
		{"-19 channel", &signedapi.StatusError{Code: -19}, signedapi.ClassAccount},
		{"undocumented negative", &signedapi.StatusError{Code: -42}, signedapi.ClassRetryable},
		{"undocumented positive", &signedapi.StatusError{Code: 3}, signedapi.ClassRetryable},
		{"wrapped sentinel", wrap(signedapi.ErrAuth), signedapi.ClassAccount},
		{"HTTP 500", &signedapi.HTTPError{StatusCode: 500}, signedapi.ClassRetryable},
		{"HTTP 503", wrap(&signedapi.HTTPError{StatusCode: 503}), signedapi.ClassRetryable},
		{"HTTP 429", &signedapi.HTTPError{StatusCode: 429}, signedapi.ClassRetryable},
		{"HTTP 408", &signedapi.HTTPError{StatusCode: 408}, signedapi.ClassRetryable},
		{"HTTP 400", &signedapi.HTTPError{StatusCode: 400}, signedapi.ClassPermanent},
		{"HTTP 401", &signedapi.HTTPError{StatusCode: 401}, signedapi.ClassPermanent},
		{"HTTP 404", &signedapi.HTTPError{StatusCode: 404}, signedapi.ClassPermanent},
		{"HTTP 301", &signedapi.HTTPError{StatusCode: 301}, signedapi.ClassPermanent},
		{"malformed", wrap(signedapi.ErrMalformedResponse), signedapi.ClassRetryable},
		{"config", wrap(signedapi.ErrConfig), signedapi.ClassPermanent},
		{"invalid request", wrap(signedapi.ErrInvalidRequest), signedapi.ClassPermanent},
		{"deadline", wrap(context.DeadlineExceeded), signedapi.ClassRetryable},
		{"canceled", context.Canceled, signedapi.ClassRetryable},
		{"connection refused", &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, signedapi.ClassRetryable},
		{"short read", io.ErrUnexpectedEOF, signedapi.ClassRetryable},
	} {
		if got := signedapi.Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
		retry := tc.want == signedapi.ClassRetryable
		perm := tc.want == signedapi.ClassPermanent || tc.want == signedapi.ClassAccount
		if signedapi.Retryable(tc.err) != retry || signedapi.Permanent(tc.err) != perm {
			t.Errorf("%s: Retryable=%v Permanent=%v, want %v %v", tc.name,
				signedapi.Retryable(tc.err), signedapi.Permanent(tc.err), retry, perm)
		}
	}
}

func TestStatusErrorIs(t *testing.T) {
	t.Parallel()
	sentinels := map[int]error{
		-1: signedapi.ErrAuth, -2: signedapi.ErrIPRestricted, -11: signedapi.ErrTimeFormat,
		-13: signedapi.ErrUserLocked, -14: signedapi.ErrFieldEmpty, -16: signedapi.ErrTimestampExpired,
		-18: signedapi.ErrPortProgram, -19: signedapi.ErrChannelNotBound,
	}
	for code, sentinel := range sentinels {
		err := fmt.Errorf("ctx: %w", &signedapi.StatusError{Code: code, Reason: "whatever the vendor says"})
		for other, s := range sentinels {
			if errors.Is(err, s) != (other == code) {
				t.Errorf("status %d: errors.Is(%v) = %v", code, s, !(other == code))
			}
		}
		if signedapi.Meaning(code) == "" {
			t.Errorf("status %d has no meaning", code)
		}
		if !strings.Contains(sentinel.Error(), signedapi.Meaning(code)) {
			t.Errorf("sentinel %d reads %q", code, sentinel)
		}
	}
	if errors.Is(&signedapi.StatusError{Code: -99}, signedapi.ErrAuth) {
		t.Error("undocumented code matches ErrAuth")
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&signedapi.StatusError{Code: -1, Reason: "Authentication error"},
			`signedapi: vendor status -1 (authentication error): "Authentication error"`},
		{signedapi.ErrUserLocked, `signedapi: vendor status -13 (user locked)`},
		{&signedapi.StatusError{Code: -7, Reason: "新错误"}, `signedapi: vendor status -7 (undocumented): "新错误"`},
		{&signedapi.HTTPError{StatusCode: 503}, `signedapi: HTTP 503 Service Unavailable`},
		{&signedapi.SkewError{Skew: -90e9, Err: signedapi.ErrTimestampExpired},
			`signedapi: timestamp refused twice, local clock is 1m30s behind the vendor's Date: signedapi: vendor status -16 (timestamp outside the allowed time range)`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %s\nwant      %s", got, tc.want)
		}
	}
}
