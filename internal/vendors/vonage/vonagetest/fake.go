// Package vonagetest is a fake of Vonage's Conversion API for tests and
// local trials. It checks every request as Vonage's API specification
// (conversion.yml) and SDKs describe it, answers in Vonage's own words
// (200 "OK", 401, 402, 420, 422, 423, 429, 5xx), counts the calls per
// message id and notes any two in flight at once for one id.
package vonagetest

import (
	"mime"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/vonage"
)

// Options configure a Fake.
type Options struct {
	// APIKey and APISecret, when set, are required: other credentials are
	// answered 401 as Vonage does.
	APIKey, APISecret string
	// Now is the fake's clock for checking timestamps; default time.Now.
	Now func() time.Time
}

// reply is one scripted answer.
type reply struct {
	kind   confirmtest.Kind
	status int
	raw    *confirmtest.Raw
}

// Fake is Vonage's Conversion API on a local port.
type Fake struct {
	opts Options
	srv  *confirmtest.Server

	ledger confirmtest.Ledger[reply]

	mu        sync.Mutex
	confirmed map[string]int
}

// newFake is a fake with opts' defaults, not yet serving.
func newFake(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Fake{opts: opts, confirmed: map[string]int{}}
}

// New returns a fake to serve as an http.Handler (its URL and Close are
// for the servers Start and NewServer run).
func New(opts Options) *Fake { return newFake(opts) }

// Start starts a fake; Close stops it.
func Start(opts Options) *Fake {
	f := newFake(opts)
	f.srv = confirmtest.Serve(f)
	return f
}

// NewServer starts a fake for t's lifetime and fails t if any request broke
// Vonage's documented format.
func NewServer(t testing.TB, opts Options) *Fake {
	t.Helper()
	f := newFake(opts)
	f.srv = confirmtest.ServeStrict(t, f, "fake Vonage")
	return f
}

// Close stops the fake, cutting any call still open.
func (f *Fake) Close() { f.srv.Close() }

// URL is the fake's base URL (scheme and host).
func (f *Fake) URL() string { return f.srv.URL }

// Answer makes the fake give kind to the next call for messageID.
func (f *Fake) Answer(messageID string, kind confirmtest.Kind) {
	f.ledger.Queue(messageID, reply{kind: kind})
}

// Status makes the fake answer the next call for messageID with a status
// Vonage documents (401, 402, 420, 422, 423, 429, 500, 503), in Vonage's
// words.
func (f *Fake) Status(messageID string, status int) {
	f.ledger.Queue(messageID, reply{status: status})
}

// Raw makes the fake give r to the next call for messageID.
func (f *Fake) Raw(messageID string, r confirmtest.Raw) {
	f.ledger.Queue(messageID, reply{raw: &r})
}

// Calls counts the requests received for messageID.
func (f *Fake) Calls(messageID string) int {
	return f.ledger.Calls(messageID)
}

// Confirmations counts the 200 answers given for messageID.
func (f *Fake) Confirmations(messageID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.confirmed[messageID]
}

// Overlaps names the message ids that ever had two calls in flight at
// once, with the most seen together.
func (f *Fake) Overlaps() map[string]int {
	return f.ledger.Overlaps()
}

// Problems lists what broke Vonage's documented format in the requests.
func (f *Fake) Problems() []string {
	return f.ledger.Problems()
}

// fields are the parameters of a conversion request; timestamp is
// optional.
var fields = map[string]bool{"api_key": true, "api_secret": true, "message-id": true, "delivered": true, "timestamp": false}

// ServeHTTP answers one Conversion API request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != vonage.Path {
		f.ledger.Problem("path %q, want %q", r.URL.Path, vonage.Path)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		f.ledger.Problem("method %s, want POST (the Conversion API only accepts POST)", r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		f.ledger.Problem("Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	}
	if r.URL.RawQuery != "" {
		f.ledger.Problem("parameters in the query string (%d bytes): the credentials would reach access logs", len(r.URL.RawQuery))
	}
	if r.Header.Get("Authorization") != "" {
		f.ledger.Problem("an Authorization header: the credentials go as api_key and api_secret parameters")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err != nil {
		f.ledger.Problem("body is not a form: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	form := r.PostForm
	f.checkForm(form)
	id := form.Get("message-id")

	rep, _ := f.ledger.Begin(id)
	defer f.ledger.End(id)

	if (f.opts.APIKey != "" && form.Get("api_key") != f.opts.APIKey) || (f.opts.APISecret != "" && form.Get("api_secret") != f.opts.APISecret) {
		rep = reply{status: http.StatusUnauthorized}
	}
	if rep.raw != nil {
		confirmtest.WriteRaw(w, r, *rep.raw)
		return
	}
	status := rep.status
	switch rep.kind {
	case confirmtest.Success, confirmtest.Repeat:
		status = http.StatusOK
	case confirmtest.Permanent:
		status = http.StatusLocked
	case confirmtest.Credentials:
		status = http.StatusUnauthorized
	case confirmtest.Throttled:
		status = http.StatusTooManyRequests
	case confirmtest.ServerError:
		status = http.StatusInternalServerError
	}
	if status == 0 || status == http.StatusOK {
		f.mu.Lock()
		f.confirmed[id]++
		f.mu.Unlock()
		// The SDKs document the success body as the bytes "OK".
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("OK"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(Body(status)))
}

// Body is Vonage's error body for status, as conversion.yml gives it.
func Body(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return `{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials supplied","detail":"You did not provide correct credentials.","instance":"797a8f199c45014ab7b08bfe9cc1c12c"}`
	case http.StatusPaymentRequired:
		return `{"type":"https://developer.nexmo.com/api-errors#forbidden","title":"Conversion has not been enabled for your account"}`
	case 420, http.StatusUnprocessableEntity, http.StatusLocked:
		return `{"type":"https://developer.nexmo.com/api-errors#3","title":"Invalid parameters. The value of one or more parameters is invalid.","resolution":"Check your parameters and try again."}`
	case http.StatusTooManyRequests:
		return `{"type":"https://developer.nexmo.com/api-errors#throttled","title":"Too Many Requests"}`
	}
	return `{"type":"https://developer.nexmo.com/api-errors#internal-error","title":"Internal Error"}`
}

// checkForm records what in form departs from the documented request.
func (f *Fake) checkForm(form url.Values) {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := fields[k]; !ok {
			f.ledger.Problem("unexpected parameter %q", k)
		} else if len(form[k]) != 1 {
			f.ledger.Problem("parameter %q given %d times", k, len(form[k]))
		}
	}
	for k, required := range fields {
		if required && form.Get(k) == "" {
			f.ledger.Problem("missing parameter %q", k)
		}
	}
	if d := form.Get("delivered"); d != "" && d != "true" {
		f.ledger.Problem("delivered=%q, want true", d)
	}
	if ts, ok := form["timestamp"]; ok {
		at, err := time.ParseInLocation(vonage.TimestampLayout, ts[0], time.UTC)
		switch {
		case err != nil:
			f.ledger.Problem("timestamp %q is not yyyy-MM-dd HH:mm:ss", ts[0])
		case at.After(f.opts.Now().Add(time.Minute)):
			f.ledger.Problem("timestamp %q is in the future (not UTC?)", ts[0])
		}
	}
}
