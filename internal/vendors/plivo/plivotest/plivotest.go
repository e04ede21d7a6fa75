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
	srv  *confirmtest.Server

	ledger confirmtest.Ledger[reply]

	mu sync.Mutex
	// n numbers the answers, for their ids; timestamps are those received
	// per message_uuid, in order.
	n          int
	timestamps map[string][]string
}

// New returns a fake with opts; NewServer also starts it.
func New(opts Options) *Fake {
	if opts.SuccessStatus == 0 {
		opts.SuccessStatus = http.StatusOK
	}
	return &Fake{opts: opts, timestamps: map[string][]string{}}
}

// NewServer starts a fake for the test's lifetime.
func NewServer(t testing.TB, opts Options) *Fake {
	t.Helper()
	f := New(opts)
	f.srv = confirmtest.ServeTest(t, f)
	return f
}

// URL is the fake's base URL (scheme and host).
func (f *Fake) URL() string { return f.srv.URL }

// Answer makes the fake give kind to the next call for messageID.
func (f *Fake) Answer(messageID string, kind confirmtest.Kind) {
	f.ledger.Queue(messageID, reply{kind: kind})
}

// Raw makes the fake give r to the next call for messageID.
func (f *Fake) Raw(messageID string, r confirmtest.Raw) {
	f.ledger.Queue(messageID, reply{raw: &r})
}

// Error makes the fake answer the next call for messageID with status and
// Plivo's error body {"api_id", "error": message}.
func (f *Fake) Error(messageID string, status int, message string) {
	f.ledger.Queue(messageID, reply{status: status, message: message})
}

// Calls counts the requests received for messageID.
func (f *Fake) Calls(messageID string) int {
	return f.ledger.Calls(messageID)
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
	return f.ledger.Overlaps()
}

// Problems lists what broke Plivo's documented format in the requests.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
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
		f.ledger.Problem("path %q is not /v1/account/{auth_id}/message/{message_uuid}/conversion/", r.URL.EscapedPath())
		f.writeError(w, http.StatusNotFound, "not found")
		return
	}
	authID, _ := url.PathUnescape(m[1])
	id, _ := url.PathUnescape(m[2])
	if authID != f.opts.AuthID {
		f.ledger.Problem("auth_id %q in the path, want the configured one", authID)
	}
	if r.Method != http.MethodPost {
		f.ledger.Problem("method %s, want POST", r.Method)
	}
	if r.URL.RawQuery != "" {
		f.ledger.Problem("query %q: the fields go in the JSON body", r.URL.RawQuery)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		f.ledger.Problem("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.ledger.Problem("body %q is not a JSON object: %v", raw, err)
	}
	for k := range body {
		if k != "status" && k != "timestamp" {
			f.ledger.Problem("unexpected field %q", k)
		}
	}
	if s, _ := body["status"].(string); s != "CONVERTED" {
		f.ledger.Problem("status %v, want \"CONVERTED\"", body["status"])
	}
	ts, _ := body["timestamp"].(string)
	if !timestampRe.MatchString(ts) {
		f.ledger.Problem("timestamp %v is not RFC 3339 UTC to the second (2020-08-01T11:32:26Z)", body["timestamp"])
	} else if t, err := time.Parse(time.RFC3339, ts); err != nil {
		f.ledger.Problem("timestamp %q: %v", ts, err)
	} else if t.After(time.Now().Add(time.Minute)) {
		f.ledger.Problem("timestamp %q is in the future", ts)
	}
	user, password, hasAuth := r.BasicAuth()
	if !hasAuth {
		f.ledger.Problem("no HTTP Basic credentials")
	}

	rep, _ := f.ledger.Begin(id)
	defer f.ledger.End(id)
	f.mu.Lock()
	f.n++
	n := f.n
	f.timestamps[id] = append(f.timestamps[id], ts)
	f.mu.Unlock()

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
