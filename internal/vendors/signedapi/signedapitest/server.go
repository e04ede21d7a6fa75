// Package signedapitest is a fake vendor of the signed API family
// (Laaffic, Itniotech) for tests of the vendor clients and of the code
// built on them (balance monitor, delivery report poller).
//
// The fake checks every request as the vendors' pages document it (method,
// path, query, each header) and recomputes the Sign itself, answering the
// documented -1 when it does not match. Answers (balance, report items per
// msgId) are set by the test, and faults (any status code, HTTP errors, bad
// bodies, slow or dropped answers) can be injected per request.
package signedapitest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/vendorbody/vendorbodytest"
)

// Vendor is the set of paths one vendor of the family serves. The paths
// are written out here from the seeds rather than taken from the client
// packages, so that a wrong path in a client fails its tests.
type Vendor struct {
	// Name labels the vendor in messages.
	Name string
	// BalancePath is the getBalance path.
	BalancePath string
	// ReportPath is the getReport path; empty when the vendor documents
	// none.
	ReportPath string
}

// The vendors of the family, as their pages document them.
var (
	// Laaffic: seeds 000 (getBalance) and 002 (getReport).
	Laaffic = Vendor{Name: "laaffic", BalancePath: "/v3/getBalance", ReportPath: "/v3/getReport"}
	// Itniotech: seed 001 (getBalance).
	Itniotech = Vendor{Name: "itniotech", BalancePath: "/sms/getBalance"}
)

// Options configure a Server.
type Options struct {
	// APIKey and APISecret are the account's credentials; a request with
	// another Api-Key or a Sign made with another secret gets status -1.
	APIKey, APISecret string
	// Vendor selects the paths served; the zero value means Laaffic.
	Vendor Vendor
	// AppID, when set, is the only appId getReport accepts; another gets
	// -14 ("query ID is abnormal").
	AppID string
	// Now is the vendor's clock, sent in the Date header and used for
	// MaxSkew; nil means time.Now.
	Now func() time.Time
	// MaxSkew, when positive, makes the fake answer -16 as the vendor does
	// when the Timestamp header is further than this from Now.
	MaxSkew time.Duration
}

// ReportItem is one getReport item as the vendor sends it: strings, so
// that tests can send anything. MsgID is the key given to SetReport.
type ReportItem struct {
	// Number is "number", the phone number.
	Number string
	// ReceiveTime is "receiveTime", e.g. "2021-02-12T09:30:03+08:00".
	ReceiveTime string
	// Status is "status": "0" delivered, "-1" sending, "1" failed.
	Status string
}

// Fault overrides the answer to one request (Enqueue) or to every request
// (SetFault). The signature is still checked first: a bad Sign gets -1
// whatever the fault.
type Fault struct {
	// Delay holds the answer back; the wait ends early when the client
	// gives up or the server closes, so huge values are fine.
	Delay time.Duration
	// Reset drops the connection without an answer.
	Reset bool
	// HTTPStatus, when non-zero, is the HTTP status of the answer, with
	// Body (or a short text) as its body.
	HTTPStatus int
	// Body, when set, is sent verbatim instead of a JSON answer.
	Body string
	// Status, when non-zero, is answered as the envelope's status, with
	// Reason (or the seed's description of the code).
	Status int
	// Reason goes with Status.
	Reason string
	// Location is sent as the Location header (with a 3xx HTTPStatus).
	Location string
	// Pad, when above the length of Body, fills the body with spaces up
	// to Pad bytes (a huge answer).
	Pad int
	// Drip sends Body one byte at a time, this long apart.
	Drip time.Duration
}

// Request is one request the fake received.
type Request struct {
	// Method, Path and RawQuery are the request line's, as received.
	Method, Path, RawQuery string
	// Header is a copy of the request's headers, Sign included: tests
	// use it to check that no Sign leaks into errors.
	Header http.Header
	// Timestamp is the Timestamp header, parsed; 0 if it did not parse.
	Timestamp int64
	// SignOK is true when Api-Key matched and the Sign recomputed equal.
	SignOK bool
	// Violations lists how the request departs from the vendor's page.
	Violations []string
	// Answer is the envelope status answered, "" for HTTP faults and raw
	// bodies.
	Answer string
}

// Server is a running fake vendor.
type Server struct {
	// URL is the base URL (scheme and host) to put in the client's Config.
	URL string

	opts Options
	tb   testing.TB
	srv  *httptest.Server
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	balance  [3]string
	reports  map[string]ReportItem
	queue    []Fault
	fault    *Fault
	requests []Request
}

// NewServer starts a fake for the test's lifetime. A request that breaks
// the documented format fails the test; a wrong credential does not (it
// is answered -1, as a test of bad credentials expects).
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := start(opts, t)
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test (examples, local trials). Violations
// are only recorded; the caller must Close it.
func Start(opts Options) *Server { return start(opts, nil) }

func start(opts Options, tb testing.TB) *Server {
	if opts.Vendor == (Vendor{}) {
		opts.Vendor = Laaffic
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts: opts,
		tb:   tb,
		done: make(chan struct{}),
		// The seeds' own example answer.
		balance: [3]string{"99.990000", "50.00000", "0"},
		reports: map[string]ReportItem{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server, ending any delayed answer first.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.srv.Close()
	})
}

// SetBalance sets the getBalance answer's "balance", "gift" and "credit"
// strings (default: the seed's "99.990000", "50.00000", "0").
func (s *Server) SetBalance(balance, gift, credit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = [3]string{balance, gift, credit}
}

// SetReport sets the getReport item for msgID; ids never set are counted
// in "nofound" and left out of "array", as the vendor documents.
func (s *Server) SetReport(msgID string, item ReportItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports[msgID] = item
}

// Enqueue adds faults answered to the next requests, one each, in order.
func (s *Server) Enqueue(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, faults...)
}

// SetFault answers f to every request once the queue is empty; nil
// restores normal answers.
func (s *Server) SetFault(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f != nil {
		c := *f
		f = &c
	}
	s.fault = f
}

// Requests returns a copy of the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Violations returns every format violation seen so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v []string
	for _, r := range s.requests {
		v = append(v, r.Violations...)
	}
	return v
}

// Reason returns the description the seeds give for a status code, which
// the fake sends as "reason" by default.
func Reason(code int) string {
	if r, ok := seedReasons[code]; ok {
		return r
	}
	return "unknown error"
}

// seedReasons are the vendors' own descriptions: seed 002's English, and
// seed 000's Chinese for -13, which only it documents.
var seedReasons = map[int]string{
	0:   "success",
	-1:  "Authentication error",
	-2:  "Restricted IP access",
	-11: "Incorrect time format",
	-13: "用户被锁定",
	-14: "Field is empty or query ID is abnormal",
	-16: "Timestamp expires",
	-18: "port program unusual",
	-19: "Please contact the business managers binding channel",
}

var lowerHex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()}
	violate := func(format string, args ...any) {
		rec.Violations = append(rec.Violations, fmt.Sprintf(format, args...))
	}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		if s.tb != nil {
			for _, v := range rec.Violations {
				s.tb.Errorf("signedapitest (%s): %s %s: %s", s.opts.Vendor.Name, r.Method, r.URL.Path, v)
			}
		}
	}()
	w.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))

	var report bool
	switch {
	case r.URL.Path == s.opts.Vendor.BalancePath:
	case s.opts.Vendor.ReportPath != "" && r.URL.Path == s.opts.Vendor.ReportPath:
		report = true
	default:
		violate("path %q is not documented for %s", r.URL.Path, s.opts.Vendor.Name)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		violate("method %s, the page documents GET", r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if r.ContentLength > 0 {
		violate("GET with a %d-byte body", r.ContentLength)
	}
	query, ok := s.checkQuery(r, report, violate)
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	authOK := s.checkHeaders(r, &rec, violate)

	fault := s.nextFault()
	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	switch {
	case !authOK:
		rec.Answer = s.writeStatus(w, -1, "")
	case s.opts.MaxSkew > 0 && absDuration(s.opts.Now().Sub(time.Unix(rec.Timestamp, 0))) > s.opts.MaxSkew:
		rec.Answer = s.writeStatus(w, -16, "")
	case fault.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	case fault.HTTPStatus != 0:
		body := fault.Body
		if body == "" {
			body = http.StatusText(fault.HTTPStatus)
		}
		if fault.Location != "" {
			w.Header().Set("Location", fault.Location)
		}
		w.WriteHeader(fault.HTTPStatus)
		_, _ = w.Write([]byte(body))
	case fault.Body != "":
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		vendorbodytest.Write(w, r, fault.Body, fault.Drip, fault.Pad)
	case fault.Status != 0:
		rec.Answer = s.writeStatus(w, fault.Status, fault.Reason)
	case report:
		rec.Answer = s.writeReport(w, query)
	default:
		rec.Answer = s.writeBalance(w)
	}
}

// checkQuery checks the query string: none for getBalance, exactly appId
// and msgIds for getReport.
func (s *Server) checkQuery(r *http.Request, report bool, violate func(string, ...any)) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		violate("query %q does not parse: %v", r.URL.RawQuery, err)
		return nil, false
	}
	if !report {
		if r.URL.RawQuery != "" {
			violate("getBalance takes no query, got %q", r.URL.RawQuery)
			return nil, false
		}
		return q, true
	}
	ok := true
	for k, v := range q {
		switch {
		case k != "appId" && k != "msgIds":
			violate("undocumented query parameter %q", k)
			ok = false
		case len(v) != 1:
			violate("query parameter %q given %d times", k, len(v))
			ok = false
		}
	}
	return q, ok
}

// checkHeaders checks the documented headers and recomputes the Sign; it
// returns whether the credentials are right.
func (s *Server) checkHeaders(r *http.Request, rec *Request, violate func(string, ...any)) bool {
	one := func(name string) (string, bool) {
		v := r.Header.Values(name)
		switch len(v) {
		case 0:
			violate("header %s missing", name)
			return "", false
		case 1:
			return v[0], true
		}
		violate("header %s sent %d times", name, len(v))
		return "", false
	}
	if ct, ok := one("Content-Type"); ok && ct != "application/json;charset=UTF-8" {
		violate("Content-Type %q, the page documents %q", ct, "application/json;charset=UTF-8")
	}
	tsText, tsOK := one("Timestamp")
	if tsOK {
		ts, err := strconv.ParseInt(tsText, 10, 64)
		if err != nil || ts <= 0 || strings.TrimLeft(tsText, "0123456789") != "" {
			violate("Timestamp %q is not unix seconds", tsText)
			tsOK = false
		} else {
			rec.Timestamp = ts
		}
	}
	key, keyOK := one("Api-Key")
	sign, signOK := one("Sign")
	if signOK && !lowerHex32.MatchString(sign) {
		violate("Sign is not 32 lowercase hex digits")
		signOK = false
	}
	if !tsOK || !keyOK || !signOK || key != s.opts.APIKey {
		return false
	}
	// Recomputed here rather than with signedapi.Sign, so that a bug there
	// cannot agree with itself.
	sum := md5.Sum([]byte(s.opts.APIKey + s.opts.APISecret + tsText))
	rec.SignOK = sign == hex.EncodeToString(sum[:])
	return rec.SignOK
}

func (s *Server) nextFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		f := s.queue[0]
		s.queue = s.queue[1:]
		return f
	}
	if s.fault != nil {
		return *s.fault
	}
	return Fault{}
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write(b)
}

func (s *Server) writeStatus(w http.ResponseWriter, code int, reason string) string {
	if reason == "" {
		reason = Reason(code)
	}
	status := strconv.Itoa(code)
	s.writeJSON(w, struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}{status, reason})
	return status
}

func (s *Server) writeBalance(w http.ResponseWriter) string {
	s.mu.Lock()
	b := s.balance
	s.mu.Unlock()
	s.writeJSON(w, struct {
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Balance string `json:"balance"`
		Gift    string `json:"gift"`
		Credit  string `json:"credit"`
	}{"0", "success", b[0], b[1], b[2]})
	return "0"
}

type wireItem struct {
	MsgID       string `json:"msgId"`
	Number      string `json:"number"`
	ReceiveTime string `json:"receiveTime"`
	Status      string `json:"status"`
}

func (s *Server) writeReport(w http.ResponseWriter, q url.Values) string {
	appID, ids := q.Get("appId"), q.Get("msgIds")
	if appID == "" || ids == "" || (s.opts.AppID != "" && appID != s.opts.AppID) {
		return s.writeStatus(w, -14, "")
	}
	var success, fail, sending, nofound int
	items := []wireItem{}
	s.mu.Lock()
	for _, id := range strings.Split(ids, ",") {
		it, ok := s.reports[id]
		if !ok {
			nofound++
			continue
		}
		switch it.Status {
		case "0":
			success++
		case "1":
			fail++
		case "-1":
			sending++
		}
		items = append(items, wireItem{MsgID: id, Number: it.Number, ReceiveTime: it.ReceiveTime, Status: it.Status})
	}
	s.mu.Unlock()
	s.writeJSON(w, struct {
		Status  string     `json:"status"`
		Reason  string     `json:"reason"`
		Success string     `json:"success"`
		Fail    string     `json:"fail"`
		Sending string     `json:"sending"`
		NoFound string     `json:"nofound"`
		Array   []wireItem `json:"array"`
	}{"0", "success", strconv.Itoa(success), strconv.Itoa(fail), strconv.Itoa(sending), strconv.Itoa(nofound), items})
	return "0"
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
