// Package liasmarttest is a fake CTrack server for tests, benchmarks and
// local trials (`relay fake-ctrack`). It checks every request as the
// vendor's page documents it and behaves like the vendor: the first call
// for a message_id answers 1000, every later one 1009. Faults can be
// injected per call.
package liasmarttest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/vendorbody/vendorbodytest"
)

// Reply overrides the fake's answer to one call.
type Reply struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Code, when non-zero, is answered instead of the normal 1000/1009
	// (and the call does not count as a confirmation unless it is 1000).
	Code int
	// Body, when set, is sent verbatim (garbage, the seed's comma-less
	// sample, ...).
	Body string
	// Delay holds the answer back (timeouts, slow vendor).
	Delay time.Duration
	// Reset closes the connection without answering.
	Reset bool
	// ContentType replaces application/json.
	ContentType string
	// Location is sent as the Location header (with a 3xx Status).
	Location string
	// Pad, when above the body's length, fills the body with spaces up to
	// Pad bytes after Body (a huge answer).
	Pad int
	// Drip sends the body one byte at a time, this long apart.
	Drip time.Duration
	// Header is added to the answer (Retry-After, ...).
	Header http.Header
}

// The hostile answers below are what vendors, and the proxies and portals
// in front of them, are seen to send. Each is a Reply to return from a
// Script; the chaos suite picks among them too.

// NULPage is a 503 error page with a NUL byte in it, which no PostgreSQL
// text column holds.
func NULPage() *Reply {
	return &Reply{Status: http.StatusServiceUnavailable, ContentType: "text/html",
		Body: "<html><body><h1>503</h1>Service\x00Unavailable</body></html>"}
}

// SplitCharPage is a 503 page of 199 ASCII bytes and then Chinese text, so
// that a cut at byte 200 falls inside a three-byte character.
func SplitCharPage() *Reply {
	return &Reply{Status: http.StatusServiceUnavailable, ContentType: "text/html",
		Body: strings.Repeat("a", 199) + "服务暂时不可用，请稍后再试"}
}

// EchoPage is a 503 page that echoes secret so that it straddles byte 200.
func EchoPage(secret string) *Reply {
	return &Reply{Status: http.StatusServiceUnavailable, ContentType: "text/plain",
		Body: strings.Repeat("e", 200-len(secret)/2) + secret + " was refused"}
}

// HugeBody is a 200 whose body starts as a success and goes on for n
// bytes: a client that cut it and parsed the start would read a 1000.
func HugeBody(n int) *Reply {
	return &Reply{Body: `{"ErrorCode":1000,"ErrorDescription":"OK"}`, Pad: n}
}

// DripBody is a success sent one byte every d.
func DripBody(d time.Duration) *Reply {
	return &Reply{Body: `{"ErrorCode":1000,"ErrorDescription":"OK"}`, Drip: d}
}

// Redirect is a 302 to location.
func Redirect(location string) *Reply {
	return &Reply{Status: http.StatusFound, Location: location, ContentType: "text/html", Body: "<a href=\"" + location + "\">Found</a>"}
}

// HTMLPage is a 200 text/html page (a captive portal, a CDN's interstitial)
// that holds CTrack's success in a script.
func HTMLPage() *Reply {
	return &Reply{ContentType: "text/html",
		Body: `<html><script>var answer = {"ErrorCode":1000,"ErrorDescription":"OK"};</script></html>`}
}

// HugeCode is a 200 with an ErrorCode no integer column holds and a
// description with a NUL and an invalid byte.
func HugeCode() *Reply {
	return &Reply{Body: "{\"ErrorCode\":99999999999,\"ErrorDescription\":\"bad\\u0000code \xff\"}"}
}

// Hostile names every hostile answer above, with secret for EchoPage.
func Hostile(secret string) map[string]*Reply {
	return map[string]*Reply{
		"nul page": NULPage(), "split character": SplitCharPage(), "echoed secret": EchoPage(secret),
		"huge body": HugeBody(20 << 20), "drip": DripBody(100 * time.Millisecond), "redirect": Redirect("http://127.0.0.1:1/elsewhere"),
		"html 200": HTMLPage(), "huge code": HugeCode(),
	}
}

// Options configure a Fake.
type Options struct {
	// APIID and APIPassword, when set, are required: others answer 1003 and
	// 1004 as the vendor does.
	APIID, APIPassword string
	// Path defaults to /api/CTrack.
	Path string
	// Latency is added to every answer.
	Latency time.Duration
	// Script, when set, may override the answer to the n-th call (1-based,
	// across all messages) for messageID; returning nil keeps the normal
	// behaviour.
	Script func(messageID string, n int) *Reply
}

// Call is one request the fake received.
type Call struct {
	MessageID string
	Code      int
	Status    int
}

// Fake is an http.Handler imitating CTrack.
type Fake struct {
	opts Options

	mu        sync.Mutex
	n         int
	calls     []Call
	confirmed map[string]int // 1000 answers per message_id
	// ledger holds the answers queued for the next calls of a message_id
	// (given before Script is asked), the calls in flight and the
	// problems.
	ledger confirmtest.Ledger[*Reply]
}

// New returns a fake with opts.
func New(opts Options) *Fake {
	if opts.Path == "" {
		opts.Path = "/api/CTrack"
	}
	return &Fake{opts: opts, confirmed: map[string]int{}}
}

// Queue makes r the answer to the next call for messageID that has no
// answer queued before it; Script is not asked for that call.
func (f *Fake) Queue(messageID string, r *Reply) {
	f.ledger.Queue(messageID, r)
}

// NewServer starts the fake on a local port for the test's lifetime and
// fails the test if any request broke the documented format.
func NewServer(t testing.TB, opts Options) (*Fake, *httptest.Server) {
	t.Helper()
	f := New(opts)
	return f, confirmtest.ServeStrict(t, f, "fake CTrack: bad request").Server
}

// ServeHTTP implements CTrack.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != f.opts.Path {
		f.ledger.Problem("path %q, want %q", r.URL.Path, f.opts.Path)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		f.ledger.Problem("method %s, want POST", r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.ledger.Problem("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		f.ledger.Problem("body is not JSON: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	str := func(k string) (string, bool) {
		v, ok := body[k]
		if !ok {
			return "", false
		}
		s, isStr := v.(string)
		if !isStr {
			f.ledger.Problem("field %s is %T, want a string", k, v)
		}
		return s, true
	}
	for k := range body {
		switch k {
		case "api_id", "api_password", "message_id", "status":
		default:
			f.ledger.Problem("unexpected field %q", k)
		}
	}
	apiID, hasID := str("api_id")
	apiPassword, hasPassword := str("api_password")
	messageID, hasMsg := str("message_id")
	status, hasStatus := str("status")

	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	// The call is in flight from its arrival to its answer (or reset).
	reply, queued := f.ledger.Begin(messageID)
	defer f.ledger.End(messageID)

	if f.opts.Script != nil && !queued {
		reply = f.opts.Script(messageID, n)
	}
	if d := f.opts.Latency; d > 0 {
		time.Sleep(d)
	}
	if reply != nil && reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
		}
	}
	if reply != nil && reply.Reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				conn.Close()
				f.record(Call{MessageID: messageID})
				return
			}
		}
	}

	code := 0
	switch {
	case !hasID || apiID == "":
		code = 1001
	case !hasPassword || apiPassword == "":
		code = 1002
	case f.opts.APIID != "" && apiID != f.opts.APIID:
		code = 1003
	case f.opts.APIPassword != "" && apiPassword != f.opts.APIPassword:
		code = 1004
	case !hasStatus:
		code = 1005
	case status != "true":
		code = 1006
	case !hasMsg || messageID == "":
		code = 1007
	}
	httpStatus := http.StatusOK
	if reply != nil {
		if reply.Status != 0 {
			httpStatus = reply.Status
		}
		if reply.Code != 0 && code == 0 {
			code = reply.Code
		}
	}
	if code == 0 && httpStatus == http.StatusOK && (reply == nil || reply.Body == "") {
		f.mu.Lock()
		if f.confirmed[messageID] > 0 {
			code = 1009
		} else {
			code = 1000
		}
		if code == 1000 {
			f.confirmed[messageID]++
		}
		f.mu.Unlock()
	} else if code == 1000 && httpStatus == http.StatusOK {
		f.mu.Lock()
		f.confirmed[messageID]++
		f.mu.Unlock()
	}
	f.record(Call{MessageID: messageID, Code: code, Status: httpStatus})

	ct := "application/json"
	if reply != nil && reply.ContentType != "" {
		ct = reply.ContentType
	}
	w.Header().Set("Content-Type", ct)
	if reply != nil && reply.Location != "" {
		w.Header().Set("Location", reply.Location)
	}
	if reply != nil {
		for k, vs := range reply.Header {
			w.Header()[k] = vs
		}
	}
	if reply != nil && (reply.Pad > 0 || reply.Drip > 0) {
		w.WriteHeader(httpStatus)
		vendorbodytest.Write(w, r, reply.Body, reply.Drip, reply.Pad)
		return
	}
	w.WriteHeader(httpStatus)
	if reply != nil && reply.Body != "" {
		_, _ = w.Write([]byte(reply.Body))
		return
	}
	if httpStatus != http.StatusOK {
		_, _ = w.Write([]byte(`{"message":"unavailable"}`))
		return
	}
	desc := map[int]string{1000: "OK", 1001: "api_id not specified", 1002: "api_password not specified",
		1003: "Invalid api_id", 1004: "Invalid api_password", 1005: "status not specified",
		1006: "Invalid status", 1007: "message_id not specified", 1008: "Invalid message_id",
		1009: "message_id already updated"}[code]
	_ = json.NewEncoder(w).Encode(map[string]any{"ErrorCode": code, "ErrorDescription": desc})
}

func (f *Fake) record(c Call) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

// Calls returns every call so far, in arrival order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// CallsFor counts the calls made for messageID.
func (f *Fake) CallsFor(messageID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.MessageID == messageID {
			n++
		}
	}
	return n
}

// Confirmations returns how many 1000 answers messageID got.
func (f *Fake) Confirmations(messageID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.confirmed[messageID]
}

// ConfirmedIDs returns the number of 1000 answers per message_id.
func (f *Fake) ConfirmedIDs() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.confirmed))
	for k, v := range f.confirmed {
		m[k] = v
	}
	return m
}

// InFlight is how many calls for messageID are being answered now.
func (f *Fake) InFlight(messageID string) int {
	return f.ledger.InFlight(messageID)
}

// Overlaps returns the message_ids that ever had two or more calls in
// flight at once, with the most seen together. relay claims an event in
// PostgreSQL before calling, so this stays empty.
func (f *Fake) Overlaps() map[string]int {
	return f.ledger.Overlaps()
}

// Problems lists requests that broke the documented format.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}
