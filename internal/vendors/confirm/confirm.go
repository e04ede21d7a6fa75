// Package confirm is the vendor-neutral language of conversion feedback:
// what relay tells a vendor ("this message converted") and what the
// vendor's answer means in relay's terms. Each vendor package turns its
// own wire format into an Answer, and classifies its own codes; the worker
// decides an event's fate from Answers alone and imports no vendor.
package confirm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"relay/internal/vendors/vendorbody"
)

// Outcome is what one answer means for the event it reports.
type Outcome int

// The outcomes, as vendors-confirm.md names the five kinds of answer.
const (
	// Confirmed: the vendor recorded the conversion now.
	Confirmed Outcome = iota + 1
	// AlreadyConfirmed: the vendor had recorded it before (a repeat the
	// vendor tells apart, as CTrack's 1009); a success.
	AlreadyConfirmed
	// Permanent: the vendor will never accept this event (the message is
	// unknown, was sent without feedback, the id is malformed).
	Permanent
	// Credentials: the vendor refused our credentials, or the account may
	// not use the API; account-wide, so the vendor is paused and the event
	// waits without spending its budget.
	Credentials
	// Transient: no verdict on the event (5xx, 429, throttling, timeouts,
	// transport errors, unreadable bodies); retried.
	Transient
)

func (o Outcome) String() string {
	switch o {
	case Confirmed:
		return "confirmed"
	case AlreadyConfirmed:
		return "already_confirmed"
	case Permanent:
		return "permanent"
	case Credentials:
		return "credentials"
	case Transient:
		return "transient"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Success reports whether the outcome makes the event final as confirmed.
func (o Outcome) Success() bool { return o == Confirmed || o == AlreadyConfirmed }

// Conversion is one converted message to report to its vendor.
type Conversion struct {
	// MessageID is the vendor's id of the message: what its send call
	// returned (a Twilio MessageSid, a Tencent SerialNo, ...).
	MessageID string
	// At is when the conversion happened: the registration's occurred_at,
	// else when relay accepted the event, so that a retry days later still
	// reports the true time. Vendors that take no time ignore it.
	At time.Time
}

// Answer is a vendor's answer to one Conversion, in relay's terms. Every
// text in it is the vendor package's to make safe (vendorbody): redacted,
// valid UTF-8 without control characters, bounded.
type Answer struct {
	Outcome Outcome
	// Status is the vendor's own code or status as it wrote it ("1000",
	// "20404", "ThrottlingException", "OK"), "HTTP 503" where the vendor
	// gave none but a status, "" where no answer arrived.
	Status string
	// Meaning is what Status means: the vendor's documented meaning, or
	// its own message, or why no answer could be read.
	Meaning string
	// HTTPStatus is the response's status; 0 when none arrived.
	HTTPStatus int
	// RetryAfter is the vendor's Retry-After (or its equivalent), 0 when
	// it sent none.
	RetryAfter time.Duration
}

// Code is Status as a number where it is one that a PostgreSQL integer
// holds (CTrack's 1000, Twilio's 20404, Telesign's -30001), else nil.
func (a Answer) Code() *int {
	n, err := strconv.ParseInt(a.Status, 10, 64)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		return nil
	}
	c := int(n)
	return &c
}

// HTTPStatusText is the Status of an answer whose vendor gave nothing but
// its HTTP status.
func HTTPStatusText(code int) string { return "HTTP " + strconv.Itoa(code) }

// Received is the Answer a response starts as, before its body is read:
// Transient, with its status (as Status too, "HTTP 503", until the body
// names the vendor's own code) and its Retry-After.
func Received(resp *http.Response) Answer {
	return Answer{Outcome: Transient, HTTPStatus: resp.StatusCode, Status: HTTPStatusText(resp.StatusCode),
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// The failures of a call that got no answer to classify. A vendor client
// returns an error wrapping one of them, with an Answer whose Outcome is
// Transient (and HTTPStatus set where a response arrived).
var (
	// ErrTimeout: no answer within the client's timeout (a slow vendor, a
	// body dripping in).
	ErrTimeout = errors.New("timeout")
	// ErrTransport: the connection failed (refused, reset, DNS, TLS).
	ErrTransport = errors.New("transport error")
	// ErrTooLarge: the answer was longer than the client reads; cutting it
	// and parsing its start could read a verdict that is not there.
	ErrTooLarge = errors.New("answer too large")
	// ErrUnreadable: a response arrived but is not the vendor's API
	// talking (not its format, an HTML page, a redirect).
	ErrUnreadable = errors.New("unreadable answer")
)

// Fail returns err as a failure of kind (one of the errors above): it
// says what err says, and errors.Is finds both kind and err's own chain.
func Fail(kind, err error) error { return failure{kind: kind, err: err} }

type failure struct{ kind, err error }

func (f failure) Error() string   { return f.err.Error() }
func (f failure) Unwrap() []error { return []error{f.kind, f.err} }

// Class is a short label from a fixed set for an answer or its failure,
// for metrics and spans: the failure's kind ("timeout", "transport",
// "too_large", "bad_response" for an unreadable answer, "error" for any
// other), "http_<status>"
// for a transient answer that is only a status, else the outcome's name.
// A vendor's own codes are never labels: a hostile vendor could make any
// number of them.
func Class(a Answer, err error) string {
	switch {
	case err == nil:
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrTransport):
		return "transport"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrUnreadable):
		return "bad_response"
	default:
		return "error"
	}
	if a.Outcome == Transient && a.HTTPStatus >= 100 && a.HTTPStatus <= 599 && a.Status == HTTPStatusText(a.HTTPStatus) {
		return "http_" + strconv.Itoa(a.HTTPStatus)
	}
	return a.Outcome.String()
}

// TransportError turns the error of an HTTP exchange with a vendor (the
// request, or reading its body) into ErrTimeout or ErrTransport, naming
// the vendor. ctx is the call's own context, whose deadline is the
// client's timeout. The error text holds no URL: a vendor's path can hold
// its account id.
func TransportError(ctx context.Context, vendor string, timeout time.Duration, err error) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%s: %w after %s", vendor, ErrTimeout, timeout)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w: call cancelled", vendor, ErrTransport)
	}
	var ue interface{ Unwrap() error }
	inner := err
	// *url.Error names the method and URL around the cause; keep the cause.
	if errors.As(err, &ue) {
		if u := ue.Unwrap(); u != nil {
			inner = u
		}
	}
	return fmt.Errorf("%s: %w: %s", vendor, ErrTransport, inner.Error())
}

// MaxAnswer bounds what a vendor client reads of an answer. The vendors'
// answers are a few hundred bytes; a longer one is refused whole, since
// parsing the start of it could read a verdict that is not there.
const MaxAnswer = 64 << 10

// ReadAnswer reads the body of resp, the answer to a call made with ctx
// (whose deadline is the client's timeout), whole within MaxAnswer. A
// longer body is an error wrapping ErrTooLarge; one that breaks off (a
// reset, a drip outlasting the timeout) is TransportError's, naming
// vendor.
func ReadAnswer(ctx context.Context, vendor string, timeout time.Duration, resp *http.Response) ([]byte, error) {
	raw, err := vendorbody.Read(resp.Body, MaxAnswer)
	if errors.Is(err, vendorbody.ErrTooLarge) {
		return nil, fmt.Errorf("%s: HTTP %d: %w: %w", vendor, resp.StatusCode, ErrTooLarge, err)
	}
	if err != nil {
		return nil, TransportError(ctx, vendor, timeout, err)
	}
	return raw, nil
}

// Exchange sends req with hc and reads the answer within MaxAnswer: the
// Answer the response starts as (Received), its header and its body.
// Without a response the Answer is a bare Transient and the error a
// TransportError; a body it could not read keeps the Answer of what
// arrived and says why (ErrTooLarge, a TransportError).
func Exchange(ctx context.Context, hc *http.Client, req *http.Request, vendor string, timeout time.Duration) (Answer, http.Header, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return Answer{Outcome: Transient}, nil, nil, TransportError(ctx, vendor, timeout, err)
	}
	defer resp.Body.Close()
	a := Received(resp)
	raw, err := ReadAnswer(ctx, vendor, timeout, resp)
	return a, resp.Header, raw, err
}

// DefaultTimeout bounds a vendor client's call, its body included, when
// its config sets no timeout.
const DefaultTimeout = 10 * time.Second

// TimeoutOrDefault is d, or DefaultTimeout for a d that is not positive.
func TimeoutOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

// HTTPClientFor returns the http.Client a vendor client calls with: a
// copy of given (a caller's, which is left as it is) that follows no
// redirect, or NewHTTPClient(maxConns) when given is nil.
func HTTPClientFor(given *http.Client, maxConns int) *http.Client {
	if given == nil {
		return NewHTTPClient(maxConns)
	}
	c := *given
	c.CheckRedirect = NoRedirects
	return &c
}

// NewHTTPClient returns the http.Client a vendor client uses when it is
// given none: connections pooled up to maxConns (default 256), and no
// redirect followed (a redirected POST loses its body; any 3xx is an
// answer to classify, not to follow).
func NewHTTPClient(maxConns int) *http.Client {
	if maxConns <= 0 {
		maxConns = 256
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = maxConns
	tr.MaxIdleConnsPerHost = maxConns
	return &http.Client{Transport: tr, CheckRedirect: NoRedirects}
}

// NoRedirects is an http.Client CheckRedirect that follows none. A client
// given a caller's http.Client copies it and sets this.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ParseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 10.2.3). It returns 0 for an absent, malformed or
// past value, and for one over a year.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 || secs > 86400*365 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		if d := t.Sub(now); d <= 365*24*time.Hour {
			return d
		}
	}
	return 0
}
