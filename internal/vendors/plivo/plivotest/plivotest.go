// Package plivotest is a fake of Plivo's Conversion Feedback API for
// tests: it checks every request as Plivo's Conversion Feedback page
// documents it (POST /v1/account/{auth_id}/message/{message_uuid}/conversion/,
// JSON {"status", "timestamp"}, Basic auth_id:auth_token), answers in
// Plivo's format, counts calls per message_uuid, keeps the timestamps
// received and notices overlapping calls. It implements confirmtest.Fake.
package plivotest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
)

// Options configure a Fake.
type Options struct {
	// AuthID and AuthToken are the account's credentials; AuthID is also
	// the path's auth_id.
	AuthID, AuthToken string
	// SuccessStatus is the status of a recorded conversion, default 200
	// (Plivo's page shows the body only).
	SuccessStatus int
}

// reply is one scripted answer.
type reply struct {
	kind confirmtest.Kind
	raw  *confirmtest.Raw
	// status and message: an error in Plivo's format (Error).
	status  int
	message string
}

// Fake is an http.Handler imitating Plivo's Conversion Feedback API.
type Fake struct {
	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	n          int
	next       map[string][]reply
	calls      map[string]int
	timestamps map[string][]string
	inFlight   map[string]int
	overlaps   map[string]int
	problems   []string
}

// New returns a fake with opts; NewServer also starts it.
func New(opts Options) *Fake {
	if opts.SuccessStatus == 0 {
		opts.SuccessStatus = http.StatusOK
	}
	return &Fake{opts: opts, next: map[string][]reply{}, calls: map[string]int{}, timestamps: map[string][]string{},
		inFlight: map[string]int{}, overlaps: map[string]int{}}
}

// NewServer starts a fake for the test's lifetime.
func NewServer(t testing.TB, opts Options) *Fake {
	t.Helper()
	f := New(opts)
	f.srv = httptest.NewServer(f)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// URL is the fake's base URL (scheme and host).
func (f *Fake) URL() string { return f.srv.URL }

// Answer makes the fake give kind to the next call for messageID.
func (f *Fake) Answer(messageID string, kind confirmtest.Kind) {
	f.push(messageID, reply{kind: kind})
}

// Raw makes the fake give r to the next call for messageID.
func (f *Fake) Raw(messageID string, r confirmtest.Raw) {
	f.push(messageID, reply{raw: &r})
}

// Error makes the fake answer the next call for messageID with status and
// Plivo's error body {"api_id", "error": message}.
func (f *Fake) Error(messageID string, status int, message string) {
	f.push(messageID, reply{status: status, message: message})
}

func (f *Fake) push(id string, r reply) {
	f.mu.Lock()
	f.next[id] = append(f.next[id], r)
	f.mu.Unlock()
}

// Calls counts the requests received for messageID.
func (f *Fake) Calls(messageID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[messageID]
}

// Timestamps returns the timestamps received for messageID, in order.
func (f *Fake) Timestamps(messageID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.timestamps[messageID]...)
}

// Overlaps returns the message_uuids that ever had two calls in flight at
// once, with the most seen together.
func (f *Fake) Overlaps() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.overlaps))
	for k, v := range f.overlaps {
		m[k] = v
	}
	return m
}

// Problems lists what broke Plivo's documented format in the requests.
func (f *Fake) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

func (f *Fake) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

var (
	pathRe      = regexp.MustCompile(`^/v1/account/([^/]+)/message/([^/]+)/conversion/$`)
	timestampRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
)

// ServeHTTP answers one conversion report.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The escaped path: a message_uuid holding a slash arrives as %2F and
	// must stay one segment.
	m := pathRe.FindStringSubmatch(r.URL.EscapedPath())
	if m == nil {
		f.problem("path %q is not /v1/account/{auth_id}/message/{message_uuid}/conversion/", r.URL.EscapedPath())
		f.writeError(w, http.StatusNotFound, "not found")
		return
	}
	authID, _ := url.PathUnescape(m[1])
	id, _ := url.PathUnescape(m[2])
	if authID != f.opts.AuthID {
		f.problem("auth_id %q in the path, want the configured one", authID)
	}
	if r.Method != http.MethodPost {
		f.problem("method %s, want POST", r.Method)
	}
	if r.URL.RawQuery != "" {
		f.problem("query %q: the fields go in the JSON body", r.URL.RawQuery)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		f.problem("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.problem("body %q is not a JSON object: %v", raw, err)
	}
	for k := range body {
		if k != "status" && k != "timestamp" {
			f.problem("unexpected field %q", k)
		}
	}
	if s, _ := body["status"].(string); s != "CONVERTED" {
		f.problem("status %v, want \"CONVERTED\"", body["status"])
	}
	ts, _ := body["timestamp"].(string)
	if !timestampRe.MatchString(ts) {
		f.problem("timestamp %v is not RFC 3339 UTC to the second (2020-08-01T11:32:26Z)", body["timestamp"])
	} else if t, err := time.Parse(time.RFC3339, ts); err != nil {
		f.problem("timestamp %q: %v", ts, err)
	} else if t.After(time.Now().Add(time.Minute)) {
		f.problem("timestamp %q is in the future", ts)
	}
	user, password, hasAuth := r.BasicAuth()
	if !hasAuth {
		f.problem("no HTTP Basic credentials")
	}

	f.mu.Lock()
	f.n++
	f.calls[id]++
	f.timestamps[id] = append(f.timestamps[id], ts)
	f.inFlight[id]++
	if c := f.inFlight[id]; c > 1 {
		f.overlaps[id] = max(f.overlaps[id], c)
	}
	var rep reply
	if q := f.next[id]; len(q) > 0 {
		rep, f.next[id] = q[0], q[1:]
	}
	n := f.n
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.inFlight[id]--; f.inFlight[id] == 0 {
			delete(f.inFlight, id)
		}
		f.mu.Unlock()
	}()

	authorized := hasAuth && user == f.opts.AuthID && password == f.opts.AuthToken && f.opts.AuthToken != ""
	switch {
	case rep.raw != nil:
		confirmtest.WriteRaw(w, r, *rep.raw)
	case rep.status != 0:
		f.writeError(w, rep.status, rep.message)
	case !authorized || rep.kind == confirmtest.Credentials:
		f.writeError(w, http.StatusUnauthorized, "Authentication failed")
	case rep.kind == confirmtest.Permanent:
		f.writeError(w, http.StatusNotFound, "message not found")
	case rep.kind == confirmtest.Throttled:
		// Plivo documents 429 and no Retry-After.
		f.writeError(w, http.StatusTooManyRequests, "Too many requests")
	case rep.kind == confirmtest.ServerError:
		f.writeError(w, http.StatusInternalServerError, "Server error")
	default: // Success, Repeat (none documented: recorded like the first), or nothing scripted
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.opts.SuccessStatus)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"api_id": uuid(n, 0xa1), "conversion_uuid": uuid(n, 0xc0),
			"message": "successfully recorded.", "message_uuid": id,
		})
	}
}

// writeError answers in Plivo's error format.
func (f *Fake) writeError(w http.ResponseWriter, status int, message string) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"api_id": uuid(n, 0xe0), "error": message})
}

// uuid is a UUID-shaped id, distinct for each n and kind.
func uuid(n, kind int) string {
	return fmt.Sprintf("%08x-%04x-11e1-8ea7-1231380bc196", n, kind)
}

// MessageUUID returns a message_uuid shaped as Plivo's are, distinct for
// each n.
func MessageUUID(n int) string { return fmt.Sprintf("%08x-7f1d-11e1-8ea7-1231380bc196", n) }

var _ confirmtest.Fake = (*Fake)(nil)
