// Package confirmtest is the conformance suite every confirm client passes
// against its vendor's fake: the documented answers (success, a repeat,
// permanent, credentials, throttling with Retry-After, 5xx), a timeout,
// an unreadable body, and the hostile answers vendors and what sits in
// front of them send (a NUL in an error page, a character split by the
// cut, our secret echoed across it, 20 MiB, a drip, a redirect, an HTML
// 200). Each must end as the Answer relay's terms give it, every text in
// it readable and free of any secret.
//
// A vendor's test package calls Run with its client's constructor and a
// fake implementing Fake; the fake checks every request as the vendor's
// documentation describes it (path, method, content type, fields,
// signature) and reports what broke it through Problems.
package confirmtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"relay/internal/vendors/confirm"
)

// Client is a vendor's confirm client.
type Client interface {
	Confirm(ctx context.Context, c confirm.Conversion) (confirm.Answer, error)
}

// Kind is an answer the fake gives in its vendor's own words.
type Kind int

// The answers every fake knows how to give.
const (
	// Success: the vendor recorded the conversion.
	Success Kind = iota + 1
	// Repeat: the vendor's answer to a second report of the same
	// conversion (its distinct code, or a plain success where it has none).
	Repeat
	// Permanent: the documented answer for a message the vendor will never
	// accept (unknown, sent without feedback).
	Permanent
	// Credentials: the documented refusal of our credentials.
	Credentials
	// Throttled: the vendor's rate limit, with Retry-After: 7 where the
	// vendor sends that header (or its own equivalent of 7 seconds).
	Throttled
	// ServerError: the vendor's documented 5xx or "try again" answer.
	ServerError
)

func (k Kind) String() string {
	return [...]string{"?", "success", "repeat", "permanent", "credentials", "throttled", "server error"}[min(int(k), 6)]
}

// Raw is an answer given byte for byte, whatever the vendor's format.
type Raw struct {
	// Status is the HTTP status; 0 means 200.
	Status      int
	ContentType string
	// Header is added to the answer (Location, Retry-After, ...).
	Header http.Header
	Body   string
	// Delay holds the answer back; Drip sends the body a byte at a time,
	// this long apart; Pad fills the body with spaces up to Pad bytes
	// (vendorbodytest.Write does both).
	Delay time.Duration
	Drip  time.Duration
	Pad   int
}

// Fake is a vendor's fake server as the suite drives it.
type Fake interface {
	// URL is the base URL (scheme and host) a client is given.
	URL() string
	// Answer makes the fake give kind to the next call for messageID.
	Answer(messageID string, kind Kind)
	// Raw makes the fake give r to the next call for messageID, after
	// checking the request as usual.
	Raw(messageID string, r Raw)
	// Calls counts the requests received for messageID.
	Calls(messageID string) int
	// Problems lists what broke the vendor's documented format in the
	// requests received; none is expected.
	Problems() []string
}

// Vendor is what the suite needs of one vendor.
type Vendor struct {
	// Name is the vendor's name in relay ("twilio").
	Name string
	// New returns a client of the vendor at baseURL whose calls time out
	// after timeout. The client is given Secrets as its credentials.
	New func(baseURL string, timeout time.Duration) Client
	// Fake starts the vendor's fake for the test's lifetime.
	Fake func(t *testing.T) Fake
	// MessageID returns a message id the vendor accepts, distinct for each n.
	MessageID func(n int) string
	// Secrets are the credentials New gives the client: none may appear
	// in an Answer or an error, whole or in part.
	Secrets []string
	// Repeat is the Outcome of Kind Repeat: AlreadyConfirmed where the
	// vendor tells a repeat apart, else Confirmed.
	Repeat confirm.Outcome
	// NoRetryAfter is set for a vendor that documents no way to say when
	// to retry: its Throttled answer is not expected to carry one.
	NoRetryAfter bool
	// StatusIsVerdict is set for a vendor whose documented success is its
	// HTTP status alone, with a body of no documented format (Vonage): a
	// 2xx is then Confirmed whatever its body, and the client need not
	// read it; but never an HTML page, which is something in front of the
	// vendor talking (a captive portal), not the vendor.
	StatusIsVerdict bool
}

// maxText bounds every text of an Answer and an error: a vendor snippet
// (vendorbody.SnippetLen) and the client's words around it.
const maxText = 512

// timeout is the clients' timeout in the suite: long enough for a fake on
// a loaded machine, short enough for the timeout cases to end quickly.
const timeout = 2 * time.Second

// answerCase is one call of the suite: the fake answers kind, or raw,
// after answering first to an earlier call for the same message id.
type answerCase struct {
	name  string
	kind  Kind
	raw   *Raw
	first Kind
	want  want
}

// want is what a call must end as.
type want struct {
	outcome confirm.Outcome
	// err is the failure the call's error must wrap; nil: no error.
	err error
	// anyErr: any error, or none, will do (a status the client may
	// classify itself or call unreadable).
	anyErr     bool
	retryAfter time.Duration
}

// Run runs the conformance suite for v.
func Run(t *testing.T, v Vendor) {
	t.Helper()
	if v.Repeat == 0 {
		v.Repeat = confirm.Confirmed
	}
	secret := ""
	for _, s := range v.Secrets {
		if len(s) > len(secret) {
			secret = s
		}
	}
	cases := []answerCase{
		{name: "success", kind: Success, want: want{outcome: confirm.Confirmed}},
		{name: "repeat", first: Success, kind: Repeat, want: want{outcome: v.Repeat}},
		{name: "permanent", kind: Permanent, want: want{outcome: confirm.Permanent}},
		{name: "credentials", kind: Credentials, want: want{outcome: confirm.Credentials}},
		{name: "throttled", kind: Throttled, want: want{outcome: confirm.Transient, retryAfter: 7 * time.Second}},
		{name: "server error", kind: ServerError, want: want{outcome: confirm.Transient, anyErr: true}},
		{name: "timeout", raw: &Raw{Delay: timeout + time.Second}, want: want{outcome: confirm.Transient, err: confirm.ErrTimeout}},
		{name: "unreadable 200", raw: &Raw{ContentType: "application/json", Body: "{\"oops"}, want: want{outcome: confirm.Transient, err: confirm.ErrUnreadable}},
		{name: "empty 502", raw: &Raw{Status: 502}, want: want{outcome: confirm.Transient, anyErr: true}},
		{name: "NUL in an error page", raw: &Raw{Status: 503, ContentType: "text/html", Body: "<html><h1>503</h1>Service\x00Unavailable</html>"},
			want: want{outcome: confirm.Transient, anyErr: true}},
		{name: "character split by the cut", raw: &Raw{Status: 503, ContentType: "text/html", Body: strings.Repeat("a", 199) + "服务暂时不可用，请稍后再试"},
			want: want{outcome: confirm.Transient, anyErr: true}},
		{name: "secret echoed across the cut", raw: &Raw{Status: 500, ContentType: "text/plain", Body: strings.Repeat("e", max(0, 200-len(secret)/2)) + secret + " was refused"},
			want: want{outcome: confirm.Transient, anyErr: true}},
		{name: "20 MiB 200", raw: &Raw{ContentType: "application/json", Body: `{"status":"ok"}`, Pad: 20 << 20}, want: want{outcome: confirm.Transient, err: confirm.ErrTooLarge}},
		{name: "dripping body", raw: &Raw{ContentType: "application/json", Body: `{"status":"ok","code":0,"message":"ok"}`, Drip: 200 * time.Millisecond},
			want: want{outcome: confirm.Transient, err: confirm.ErrTimeout}},
		{name: "redirect", raw: &Raw{Status: 302, ContentType: "text/html", Header: http.Header{"Location": {"http://127.0.0.1:1/elsewhere"}}, Body: "Found"},
			want: want{outcome: confirm.Transient, anyErr: true}},
		{name: "HTML 200", raw: &Raw{ContentType: "text/html", Body: "<html><body>Please log in to continue</body></html>"},
			want: want{outcome: confirm.Transient, err: confirm.ErrUnreadable}},
		{name: "invalid UTF-8 and controls in a 500", raw: &Raw{Status: 500, ContentType: "text/plain", Body: "bad \xff\xfe\x01\x1b[31m red \u2028 line"},
			want: want{outcome: confirm.Transient, anyErr: true}},
	}
	if v.StatusIsVerdict {
		for i := range cases {
			if r := cases[i].raw; r != nil && r.Status == 0 && r.Delay == 0 && r.ContentType != "text/html" {
				cases[i].want = want{outcome: confirm.Confirmed}
			}
		}
	}
	fake := v.Fake(t)
	client := v.New(fake.URL(), timeout)
	// The answers run in parallel (each has its own message id, and the
	// slow ones wait out the timeout); the requests' check comes after
	// all of them.
	t.Run("answers", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				runCase(t, v, fake, client, i, c)
			})
		}
	})
	t.Run("requests as documented", func(t *testing.T) {
		if p := fake.Problems(); len(p) > 0 {
			t.Errorf("the fake found %d requests off the vendor's documentation: %s", len(p), strings.Join(p, "; "))
		}
	})
}

// runCase makes c's call and checks its Answer.
func runCase(t *testing.T, v Vendor, fake Fake, client Client, i int, c answerCase) {
	t.Helper()
	id := v.MessageID(i)
	conv := confirm.Conversion{MessageID: id, At: time.Now().Add(-time.Minute).Truncate(time.Second)}
	if c.first != 0 {
		fake.Answer(id, c.first)
		if a, err := client.Confirm(context.Background(), conv); err != nil || a.Outcome != confirm.Confirmed {
			t.Fatalf("first call: %+v, %v", a, err)
		}
	}
	if c.raw != nil {
		fake.Raw(id, *c.raw)
	} else {
		fake.Answer(id, c.kind)
	}
	before := fake.Calls(id)
	a, err := client.Confirm(context.Background(), conv)
	// A fake may count a call once it has answered it, after the client
	// gave up waiting: wait for the count, then hold it to one.
	deadline := time.Now().Add(5 * time.Second)
	for fake.Calls(id)-before < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := fake.Calls(id) - before; n != 1 {
		t.Errorf("the vendor received %d calls, want exactly 1 (no retry inside the client)", n)
	}
	if a.Outcome != c.want.outcome {
		t.Errorf("outcome %s (%+v, err %v), want %s", a.Outcome, a, err, c.want.outcome)
	}
	switch {
	case c.want.err != nil && !errors.Is(err, c.want.err):
		t.Errorf("error %v, want one wrapping %q", err, c.want.err)
	case c.want.err == nil && !c.want.anyErr && err != nil:
		t.Errorf("error %v, want none", err)
	}
	if err != nil && a.Outcome != confirm.Transient {
		t.Errorf("an error with outcome %s: a call without a verdict is transient", a.Outcome)
	}
	if c.want.retryAfter > 0 && !v.NoRetryAfter && a.RetryAfter != c.want.retryAfter {
		t.Errorf("RetryAfter %s, want %s", a.RetryAfter, c.want.retryAfter)
	}
	if c.raw == nil && a.HTTPStatus == 0 {
		t.Errorf("HTTPStatus 0 for an answer that arrived")
	}
	if a.Outcome != confirm.Transient && a.Status == "" {
		t.Errorf("a verdict without the vendor's Status: %+v", a)
	}
	checkTexts(t, v.Secrets, a, err)
}

// checkTexts holds every text of a and err to what an operator reads in
// last_error, a log or a span: valid UTF-8, no control character, bounded,
// no secret nor a piece of one.
func checkTexts(t *testing.T, secrets []string, a confirm.Answer, err error) {
	t.Helper()
	texts := map[string]string{"Status": a.Status, "Meaning": a.Meaning}
	if err != nil {
		texts["error"] = err.Error()
	}
	for name, s := range texts {
		if why := unreadable(s, secrets); why != "" {
			t.Errorf("%s %q: %s", name, s, why)
		}
	}
}

// unreadable says what is wrong with a text, "" for nothing.
func unreadable(s string, secrets []string) string {
	switch {
	case !utf8.ValidString(s):
		return "invalid UTF-8"
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' }):
		return "a control character"
	case len(s) > maxText:
		return fmt.Sprintf("%d bytes, over %d", len(s), maxText)
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		// A piece as long as half the secret (at least 6 bytes) is a leak.
		n := max(6, len(secret)/2)
		for i := 0; i+n <= len(secret); i++ {
			if strings.Contains(s, secret[i:i+n]) {
				return "a piece of a secret"
			}
		}
	}
	return ""
}
