// Package jpushtest is a fake JPush SMS balance server for tests of the
// jpush client and of the code that monitors balances. It checks every
// request as the seed documents it (method, path, Basic credentials of the
// right pair, Content-Type: application/json), answers the seed's sample
// bodies by default, and can be told to answer nulls, chosen values, an
// error object, any status, a garbage body, or nothing until the client
// gives up.
package jpushtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"relay/internal/vendors/jpush"
)

// The credentials of the seed's curl examples, expected by default.
const (
	DevKey       = "7e503edcb0cb725e331b0311"
	DevSecret    = "7289516381dcdf1113730f2b"
	AppKey       = "4c6921c9b20b2fd9bcd8ca3d"
	MasterSecret = "5b3e2979c8a48b84cebeaaf4"
)

// The seed's sample answers (返回示例, 发送成功), verbatim.
const (
	DevSample = `{ "dev_balance": 9, "dev_voice": 702, "dev_industry": 121981, "dev_market": 11683 }`
	AppSample = `{ "app_balance": 1, "app_voice": 22, "app_industry": 44, "app_market": 14 }`
)

// AuthFailedCode is what the fake answers, with HTTP 401, to wrong
// credentials. The seed documents no codes; 50001 is "auth failed" in
// JPush's published JSMS code table.
const AuthFailedCode = 50001

// Response scripts the answer of one endpoint. The zero Response answers
// the seed's sample with 200. When several fields are set, Body wins over
// Error, which wins over Quotas.
type Response struct {
	// Status is the HTTP status; 0 means 200, or 400 when Error is set.
	Status int
	// Body, when non-empty, is sent verbatim: garbage, HTML, truncated
	// JSON.
	Body string
	// Error, when set, is sent as {"error":{"code":..,"message":..}}.
	Error *Error
	// Quotas, when set, replaces the sample's values; its nil fields are
	// sent as null. &Quotas{} answers four nulls.
	Quotas *Quotas
	// Hang answers nothing until the client gives up (or the server
	// closes), to exercise client timeouts without sleeping.
	Hang bool
}

// Error is the vendor's error object.
type Error struct {
	Code    int
	Message string
}

// Quotas are the four values of a balance answer; nil is sent as null.
type Quotas struct {
	Balance, Voice, Industry, Market *int64
}

// Int returns a pointer to v, for Quotas literals.
func Int(v int64) *int64 { return &v }

// Options configure a Server.
type Options struct {
	// Expected credentials; empty fields take the seed's curl values
	// (DevKey, DevSecret, AppKey, MasterSecret).
	DevKey, DevSecret, AppKey, MasterSecret string
	// Dev and App are the standing answers of DevPath and AppPath.
	Dev, App Response
	// Lenient answers a request that does not match the seed the way the
	// vendor would (404, 405, 415, or 401 with AuthFailedCode) without
	// failing the test, for tests that send wrong credentials on purpose.
	// Mismatches are recorded in Request.Problems either way.
	Lenient bool
	// OnRequest, when set, is called with each request as it arrives,
	// before it is answered (or hangs): tests synchronise on it instead of
	// sleeping.
	OnRequest func(Request)
}

// Request is one request the server received.
type Request struct {
	// Method, Path and ContentType are as received.
	Method      string
	Path        string
	ContentType string
	// User is the Basic auth user name, empty without Basic auth.
	User string
	// AuthOK is true when the Basic credentials are exactly the pair the
	// path requires.
	AuthOK bool
	// Problems lists how the request differs from the seed; empty when it
	// matches.
	Problems []string
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL (scheme and host) for jpush.Config.BaseURL.
	URL string

	srv       *httptest.Server
	tb        testing.TB
	opts      Options
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	standing map[string]Response
	queued   map[string][]Response
	requests []Request
}

// NewServer starts a fake closed at the end of the test. A request that
// does not match the seed fails the test unless opts.Lenient is set.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := start(t, opts)
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test (examples, local trials); the caller
// must Close it. Mismatched requests are answered and recorded, never
// reported.
func Start(opts Options) *Server { return start(nil, opts) }

func start(tb testing.TB, opts Options) *Server {
	for _, d := range []struct {
		field *string
		def   string
	}{
		{&opts.DevKey, DevKey}, {&opts.DevSecret, DevSecret},
		{&opts.AppKey, AppKey}, {&opts.MasterSecret, MasterSecret},
	} {
		if *d.field == "" {
			*d.field = d.def
		}
	}
	s := &Server{
		tb:       tb,
		opts:     opts,
		closing:  make(chan struct{}),
		standing: map[string]Response{jpush.DevPath: opts.Dev, jpush.AppPath: opts.App},
		queued:   map[string][]Response{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close releases hanging requests and stops the server. It may be called
// more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Config returns a client configuration for this server with the
// credentials it expects.
func (s *Server) Config() jpush.Config {
	return jpush.Config{
		BaseURL:      s.URL,
		DevKey:       s.opts.DevKey,
		DevSecret:    s.opts.DevSecret,
		AppKey:       s.opts.AppKey,
		MasterSecret: s.opts.MasterSecret,
		HTTPClient:   s.Client(),
	}
}

// SetResponse replaces the standing answer of path (jpush.DevPath or
// jpush.AppPath).
func (s *Server) SetResponse(path string, r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.standing[path] = r
}

// Enqueue makes the next calls of path answer rs in order, before the
// standing answer resumes: "503 twice, then the sample".
func (s *Server) Enqueue(path string, rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[path] = append(s.queued[path], rs...)
}

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests arrived for path, matching or not.
func (s *Server) Count(path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type")}
	user, pass, hasBasic := r.BasicAuth()
	rec.User = user

	var wantUser, wantPass, prefix string
	switch r.URL.Path {
	case jpush.DevPath:
		wantUser, wantPass, prefix = s.opts.DevKey, s.opts.DevSecret, "dev"
	case jpush.AppPath:
		wantUser, wantPass, prefix = s.opts.AppKey, s.opts.MasterSecret, "app"
	}
	rec.AuthOK = prefix != "" && hasBasic && user == wantUser && pass == wantPass

	status, body := 0, ""
	mediaType, _, _ := mime.ParseMediaType(rec.ContentType)
	switch {
	case prefix == "":
		rec.Problems = append(rec.Problems, fmt.Sprintf("path %q is not %s or %s", r.URL.Path, jpush.DevPath, jpush.AppPath))
		status, body = http.StatusNotFound, errorBody(0, "api not found")
	case r.Method != http.MethodGet:
		rec.Problems = append(rec.Problems, fmt.Sprintf("method %s, want GET", r.Method))
		status, body = http.StatusMethodNotAllowed, errorBody(0, "request method not support")
	case mediaType != "application/json":
		rec.Problems = append(rec.Problems, fmt.Sprintf("Content-Type %q, want application/json", rec.ContentType))
		status, body = http.StatusUnsupportedMediaType, errorBody(0, "media not supported")
	case !rec.AuthOK:
		// Never put the received password in the problem: tests print it.
		rec.Problems = append(rec.Problems, fmt.Sprintf("Basic credentials (user %q, basic %t) are not the %s pair", user, hasBasic, prefix))
		status, body = http.StatusUnauthorized, errorBody(AuthFailedCode, "auth failed")
	}

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	var resp Response
	if status == 0 {
		resp = s.next(r.URL.Path)
	}
	s.mu.Unlock()

	if len(rec.Problems) > 0 && s.tb != nil && !s.opts.Lenient {
		s.tb.Errorf("jpushtest: %s %s: %v", r.Method, r.URL.Path, rec.Problems)
	}
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(rec)
	}
	if status == 0 {
		if resp.Hang {
			// Answer nothing: the client's deadline or Close ends this.
			select {
			case <-r.Context().Done():
			case <-s.closing:
				// Drop the connection rather than let net/http send an
				// empty 200, so the client sees what a dead vendor does.
				panic(http.ErrAbortHandler)
			}
			return
		}
		status, body = resp.render(prefix)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// next pops the queued answer of path, or returns the standing one. The
// caller holds s.mu.
func (s *Server) next(path string) Response {
	if q := s.queued[path]; len(q) > 0 {
		s.queued[path] = q[1:]
		return q[0]
	}
	return s.standing[path]
}

func (r Response) render(prefix string) (int, string) {
	status := r.Status
	var body string
	switch {
	case r.Body != "":
		body = r.Body
	case r.Error != nil:
		if status == 0 {
			status = http.StatusBadRequest
		}
		body = errorBody(r.Error.Code, r.Error.Message)
	case r.Quotas != nil:
		body = quotasBody(prefix, *r.Quotas)
	case prefix == "dev":
		body = DevSample
	default:
		body = AppSample
	}
	if status == 0 {
		status = http.StatusOK
	}
	return status, body
}

func errorBody(code int, message string) string {
	msg, _ := json.Marshal(message) // a string always encodes
	if code == 0 {
		return fmt.Sprintf(`{"error":{"message":%s}}`, msg)
	}
	return fmt.Sprintf(`{"error":{"code":%d,"message":%s}}`, code, msg)
}

func quotasBody(prefix string, q Quotas) string {
	v := func(p *int64) string {
		if p == nil {
			return "null"
		}
		return strconv.FormatInt(*p, 10)
	}
	return fmt.Sprintf(`{"%[1]s_balance":%[2]s,"%[1]s_voice":%[3]s,"%[1]s_industry":%[4]s,"%[1]s_market":%[5]s}`,
		prefix, v(q.Balance), v(q.Voice), v(q.Industry), v(q.Market))
}
