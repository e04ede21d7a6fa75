// Package twiliotest is a fake of Twilio's Message Feedback resource for
// tests: it checks every request as Twilio's OpenAPI description
// (twilio_api_v2010.json, CreateMessageFeedback) documents it, answers in
// Twilio's own words, counts calls per MessageSid and notices overlapping
// ones. It implements confirmtest.Fake.
package twiliotest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
)

// Options configure a Fake.
type Options struct {
	// AccountSID is the account in the path; AuthToken its password.
	// APIKeySID and APIKeySecret, when set, are accepted as well, as
	// Twilio accepts either.
	AccountSID   string
	AuthToken    string
	APIKeySID    string
	APIKeySecret string
	// SuccessStatus is the status of a recorded feedback, default 200 (the
	// current OpenAPI description; older ones said 201).
	SuccessStatus int
}

// reply is one scripted answer.
type reply struct {
	kind confirmtest.Kind
	raw  *confirmtest.Raw
	// status, code and message: an error in Twilio's format (Error).
	status, code int
	message      string
}

// Fake is an http.Handler imitating Twilio's Message Feedback resource.
type Fake struct {
	opts Options
	srv  *confirmtest.Server

	ledger confirmtest.Ledger[reply]
}

// New returns a fake with opts; NewServer also starts it.
func New(opts Options) *Fake {
	if opts.SuccessStatus == 0 {
		opts.SuccessStatus = http.StatusOK
	}
	return &Fake{opts: opts}
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

// Error makes the fake answer the next call for messageID with a Twilio
// error: HTTP status, code and message, as Twilio writes them.
func (f *Fake) Error(messageID string, status, code int, message string) {
	f.ledger.Queue(messageID, reply{status: status, code: code, message: message})
}

// Calls counts the requests received for messageID.
func (f *Fake) Calls(messageID string) int {
	return f.ledger.Calls(messageID)
}

// Overlaps returns the MessageSids that ever had two calls in flight at
// once, with the most seen together.
func (f *Fake) Overlaps() map[string]int {
	return f.ledger.Overlaps()
}

// Problems lists what broke Twilio's documented format in the requests.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}

var (
	pathRe       = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)/Feedback\.json$`)
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	messageSIDRe = regexp.MustCompile(`^(SM|MM)[0-9a-fA-F]{32}$`)
)

// ServeHTTP answers one CreateMessageFeedback call.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		f.ledger.Problem("path %q is not /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Feedback.json", r.URL.Path)
		f.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	account, sid := m[1], m[2]
	if !accountSIDRe.MatchString(account) {
		f.ledger.Problem("AccountSid %q off ^AC[0-9a-fA-F]{32}$", account)
	}
	if !messageSIDRe.MatchString(sid) {
		f.ledger.Problem("MessageSid %q off ^(SM|MM)[0-9a-fA-F]{32}$", sid)
	}
	if account != f.opts.AccountSID {
		f.ledger.Problem("AccountSid %q in the path, want the configured one", account)
	}
	if r.Method != http.MethodPost {
		f.ledger.Problem("method %s, want POST", r.Method)
	}
	if r.URL.RawQuery != "" {
		f.ledger.Problem("query %q: the fields go in the form body", r.URL.RawQuery)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		f.ledger.Problem("Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	form, err := url.ParseQuery(string(body))
	switch {
	case err != nil:
		f.ledger.Problem("body %q is not form-encoded: %v", body, err)
	case len(form) != 1 || len(form["Outcome"]) != 1 || form.Get("Outcome") != "confirmed":
		f.ledger.Problem("form %q, want exactly Outcome=confirmed", body)
	}
	user, password, hasAuth := r.BasicAuth()
	if !hasAuth {
		f.ledger.Problem("no HTTP Basic credentials")
	}

	rep, _ := f.ledger.Begin(sid)
	defer f.ledger.End(sid)

	authorized := hasAuth && ((user == f.opts.AccountSID && password == f.opts.AuthToken && f.opts.AuthToken != "") ||
		(f.opts.APIKeySID != "" && user == f.opts.APIKeySID && password == f.opts.APIKeySecret))
	switch {
	case rep.raw != nil:
		confirmtest.WriteRaw(w, r, *rep.raw)
	case rep.code != 0 || rep.status != 0:
		f.writeError(w, rep.status, rep.code, rep.message)
	case !authorized || rep.kind == confirmtest.Credentials:
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		f.writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
	case rep.kind == confirmtest.Permanent:
		f.writeError(w, http.StatusNotFound, 20404, "The requested resource /2010-04-01/Accounts/"+account+"/Messages/"+sid+"/Feedback.json was not found")
	case rep.kind == confirmtest.Throttled:
		// Twilio's 2010 API documents no Retry-After for 20429; its newer
		// APIs send one, and this fake does, so that the client's reading
		// of it is tested.
		w.Header().Set("Retry-After", "7")
		f.writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
	case rep.kind == confirmtest.ServerError:
		f.writeError(w, http.StatusServiceUnavailable, 20503, "Service unavailable")
	default: // Success, Repeat (Twilio records a repeat like the first), or nothing scripted
		now := time.Now().UTC().Format(time.RFC1123Z)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.opts.SuccessStatus)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"account_sid": account, "message_sid": sid, "outcome": "confirmed",
			"date_created": now, "date_updated": now,
			"uri": "/2010-04-01/Accounts/" + account + "/Messages/" + sid + "/Feedback.json",
		})
	}
}

// writeError answers in Twilio's error format.
func (f *Fake) writeError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

// MessageSID returns a well-formed MessageSid, distinct for each n.
func MessageSID(n int) string { return fmt.Sprintf("SM%032x", n) }

// Ensure the interface stays met.
var _ confirmtest.Fake = (*Fake)(nil)
