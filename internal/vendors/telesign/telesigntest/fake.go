// Package telesigntest is a fake of Telesign's Verify completion API for
// tests and local trials. It checks every request as Telesign documents it
// (PUT /v1/verify/completion/{reference_id}, no body, Basic
// CustomerID:APIKey), answers in Telesign's own words (status 1900, and
// the documented error codes), counts the calls per reference id and notes
// any two in flight at once for one id.
package telesigntest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/telesign"
)

// Options configure a Fake.
type Options struct {
	// CustomerID and APIKey, when set, are required: other credentials
	// are answered 401 with -30000 or -30015 as Telesign does.
	CustomerID, APIKey string
}

// ErrorAnswer is how Telesign answers one of its documented error codes:
// the HTTP status and the description it writes.
type ErrorAnswer struct {
	HTTPStatus  int
	Description string
}

// Errors are the error codes the fake knows how to answer, with the HTTP
// status Telesign's references pair them with.
var Errors = map[int]ErrorAnswer{
	-10001: {http.StatusNotFound, "CustomerID/ReferenceID not found"},
	-10004: {http.StatusNotFound, "Reference ID expired."},
	-20002: {http.StatusUnauthorized, "This product is not enabled for this Customer ID."},
	-30000: {http.StatusUnauthorized, "Invalid Customer ID."},
	-30001: {http.StatusUnauthorized, "Customer ID Account Suspended."},
	-30004: {http.StatusUnauthorized, "Missing required 'Authorization' header"},
	-30005: {http.StatusUnauthorized, "Required 'Authorization' header is not in the correct format"},
	-30006: {http.StatusUnauthorized, "Invalid Signature"},
	-30007: {http.StatusUnauthorized, "Missing required 'Date' or 'x-ts-date' header"},
	-30008: {http.StatusUnauthorized, "Invalid 'x-ts-auth-method' header."},
	-30009: {http.StatusUnauthorized, "'Date' or 'x-ts-date' header is not RFC822 compliant"},
	-30010: {http.StatusUnauthorized, "'Date' or 'x-ts-date' header is not within tolerable range"},
	-30011: {http.StatusUnauthorized, "'x-ts-nonce' header value is either too long or too short"},
	-30012: {http.StatusUnauthorized, "'x-ts-nonce' header value has been used recently"},
	-30013: {http.StatusBadRequest, "Invalid ReferenceID"},
	-30015: {http.StatusUnauthorized, "Invalid API Key."},
	-90001: {http.StatusServiceUnavailable, "System Unavailable, please try again later."},
}

// reply is one scripted answer.
type reply struct {
	kind confirmtest.Kind
	code int
	raw  *confirmtest.Raw
}

// Fake is Telesign's completion API on a local port.
type Fake struct {
	opts Options
	srv  *confirmtest.Server

	ledger confirmtest.Ledger[reply]

	mu        sync.Mutex
	confirmed map[string]int
}

// Start starts a fake; Close stops it.
func Start(opts Options) *Fake {
	f := &Fake{opts: opts, confirmed: map[string]int{}}
	f.srv = confirmtest.Serve(f)
	return f
}

// NewServer starts a fake for t's lifetime and fails t if any request broke
// Telesign's documented format.
func NewServer(t testing.TB, opts Options) *Fake {
	t.Helper()
	f := &Fake{opts: opts, confirmed: map[string]int{}}
	f.srv = confirmtest.ServeStrict(t, f, "fake Telesign")
	return f
}

// Close stops the fake, cutting any call still open.
func (f *Fake) Close() { f.srv.Close() }

// URL is the fake's base URL (scheme and host).
func (f *Fake) URL() string { return f.srv.URL }

// Answer makes the fake give kind to the next call for referenceID.
func (f *Fake) Answer(referenceID string, kind confirmtest.Kind) {
	f.ledger.Queue(referenceID, reply{kind: kind})
}

// Code makes the fake answer the next call for referenceID with one of
// the documented error codes in Errors, in Telesign's words.
func (f *Fake) Code(referenceID string, code int) {
	f.ledger.Queue(referenceID, reply{code: code})
}

// Raw makes the fake give r to the next call for referenceID.
func (f *Fake) Raw(referenceID string, r confirmtest.Raw) {
	f.ledger.Queue(referenceID, reply{raw: &r})
}

// Calls counts the requests received for referenceID.
func (f *Fake) Calls(referenceID string) int {
	return f.ledger.Calls(referenceID)
}

// Confirmations counts the 1900 answers given for referenceID.
func (f *Fake) Confirmations(referenceID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.confirmed[referenceID]
}

// Overlaps names the reference ids that ever had two calls in flight at
// once, with the most seen together.
func (f *Fake) Overlaps() map[string]int {
	return f.ledger.Overlaps()
}

// Problems lists what broke Telesign's documented format in the requests.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}

// ServeHTTP answers one completion request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, telesign.PathPrefix)
	if !ok || !telesign.ReferenceID.MatchString(id) {
		f.ledger.Problem("path %q, want %s{32 hex digits}", r.URL.Path, telesign.PathPrefix)
		writeError(w, -10001, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPut {
		f.ledger.Problem("method %s, want PUT", r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if r.URL.RawQuery != "" {
		f.ledger.Problem("a query string %q: the call takes no parameters", r.URL.RawQuery)
	}
	if b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16)); len(b) > 0 {
		f.ledger.Problem("a body of %d bytes: the call has none", len(b))
	}
	user, pass, basic := r.BasicAuth()
	if !basic {
		f.ledger.Problem("no Basic Authorization header (CustomerID:APIKey)")
	}

	rep, _ := f.ledger.Begin(id)
	defer f.ledger.End(id)

	switch {
	case !basic:
		rep = reply{code: -30004}
	case f.opts.CustomerID != "" && user != f.opts.CustomerID:
		rep = reply{code: -30000}
	case f.opts.APIKey != "" && pass != f.opts.APIKey:
		rep = reply{code: -30015}
	}
	if rep.raw != nil {
		confirmtest.WriteRaw(w, r, *rep.raw)
		return
	}
	switch rep.kind {
	case confirmtest.Permanent:
		rep.code = -10001
	case confirmtest.Credentials:
		rep.code = -30000
	case confirmtest.ServerError:
		rep.code = -90001
	case confirmtest.Throttled:
		// Telesign documents 429 without its body or a Retry-After; this
		// is the status alone, in Telesign's JSON frame.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{},
			"status": map[string]any{"description": "Too many requests", "updated_on": now()}})
		return
	}
	if rep.code != 0 {
		writeError(w, rep.code, 0)
		return
	}
	// Telesign has no distinct answer to a repeat: 1900 again.
	f.mu.Lock()
	f.confirmed[id]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"reference_id": id, "sub_resource": "sms", "errors": []any{},
		"status": map[string]any{"code": telesign.CodeCompleted, "description": "Verify completion successfully recorded", "updated_on": now()},
	})
}

// writeError sends code as Telesign does: the error in errors[], and a
// status of 501 "Not authorized" for refused credentials, else 500
// "Transaction not attempted". httpStatus 0 takes the code's own.
func writeError(w http.ResponseWriter, code, httpStatus int) {
	e, ok := Errors[code]
	if !ok {
		e = ErrorAnswer{http.StatusBadRequest, "undocumented"}
	}
	if httpStatus == 0 {
		httpStatus = e.HTTPStatus
	}
	status := map[string]any{"code": 500, "description": "Transaction not attempted", "updated_on": now()}
	if e.HTTPStatus == http.StatusUnauthorized {
		status = map[string]any{"code": 501, "description": "Not authorized", "updated_on": now()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"code": code, "description": e.Description}}, "status": status,
	})
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z") }
