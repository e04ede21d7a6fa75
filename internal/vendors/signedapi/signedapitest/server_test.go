package signedapitest_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/signedapi/signedapitest"
)

const (
	key    = "bDqJFiq9"
	secret = "fake-secret"
	ts     = "1630468800"
)

func sign(k, s, t string) string {
	sum := md5.Sum([]byte(k + s + t))
	return hex.EncodeToString(sum[:])
}

// seedHeaders are the seed's request headers, signed with secret.
func seedHeaders() http.Header {
	return http.Header{
		"Content-Type": {"application/json;charset=UTF-8"},
		"Sign":         {sign(key, secret, ts)},
		"Timestamp":    {ts},
		"Api-Key":      {key},
	}
}

// recTB collects the fake's complaints instead of failing the test, so
// that requests breaking the format can be sent on purpose.
type recTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

type answer struct {
	code   int
	status string
	body   map[string]any
}

func do(t *testing.T, method, url string, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode}
	if json.Unmarshal(raw, &a.body) == nil {
		a.status, _ = a.body["status"].(string)
	}
	return a
}

func TestFakeChecksRequests(t *testing.T) {
	t.Parallel()
	mod := func(f func(http.Header)) http.Header { h := seedHeaders(); f(h); return h }
	for _, tc := range []struct {
		name       string
		vendor     signedapitest.Vendor
		method     string
		target     string
		header     http.Header
		wantCode   int
		wantStatus string
		violation  string
	}{
		{"seed request", signedapitest.Laaffic, "GET", "/v3/getBalance", seedHeaders(), 200, "0", ""},
		{"seed report request", signedapitest.Laaffic, "GET", "/v3/getReport?appId=4luaKsL2&msgIds=2108021054011000095,2108021059531000096", seedHeaders(), 200, "0", ""},
		{"itniotech", signedapitest.Itniotech, "GET", "/sms/getBalance", seedHeaders(), 200, "0", ""},
		{"wrong secret", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { h["Sign"] = []string{sign(key, "other", ts)} }), 200, "-1", ""},
		{"wrong key", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { h["Api-Key"] = []string{"other"} }), 200, "-1", ""},
		{"POST", signedapitest.Laaffic, "POST", "/v3/getBalance", seedHeaders(), 405, "", "method POST"},
		{"undocumented path", signedapitest.Laaffic, "GET", "/v3/getbalance", seedHeaders(), 404, "", "not documented"},
		{"laaffic path on itniotech", signedapitest.Itniotech, "GET", "/v3/getBalance", seedHeaders(), 404, "", "not documented"},
		{"no report on itniotech", signedapitest.Itniotech, "GET", "/sms/getReport?appId=a&msgIds=1", seedHeaders(), 404, "", "not documented"},
		{"query on balance", signedapitest.Laaffic, "GET", "/v3/getBalance?x=1", seedHeaders(), 400, "", "takes no query"},
		{"extra report parameter", signedapitest.Laaffic, "GET", "/v3/getReport?appId=a&msgIds=1&page=2", seedHeaders(), 400, "", "undocumented query parameter"},
		{"repeated report parameter", signedapitest.Laaffic, "GET", "/v3/getReport?appId=a&msgIds=1&msgIds=2", seedHeaders(), 400, "", "given 2 times"},
		{"no msgIds", signedapitest.Laaffic, "GET", "/v3/getReport?appId=a", seedHeaders(), 200, "-14", ""},
		{"missing Sign", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { delete(h, "Sign") }), 200, "-1", "Sign missing"},
		{"uppercase Sign", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { h["Sign"] = []string{strings.ToUpper(sign(key, secret, ts))} }), 200, "-1", "lowercase hex"},
		{"missing Timestamp", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { delete(h, "Timestamp") }), 200, "-1", "Timestamp missing"},
		{"millisecond Timestamp", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) {
			h["Timestamp"] = []string{ts + "000"}
			h["Sign"] = []string{sign(key, secret, ts+"000")}
		}), 200, "0", ""},
		{"Timestamp not a number", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { h["Timestamp"] = []string{"+" + ts} }), 200, "-1", "not unix seconds"},
		{"missing Api-Key", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { delete(h, "Api-Key") }), 200, "-1", "Api-Key missing"},
		{"other Content-Type", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { h["Content-Type"] = []string{"application/json"} }), 200, "0", "Content-Type"},
		{"Sign twice", signedapitest.Laaffic, "GET", "/v3/getBalance", mod(func(h http.Header) { h["Sign"] = append(h["Sign"], "x") }), 200, "-1", "sent 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := &recTB{TB: t}
			srv := signedapitest.NewServer(tb, signedapitest.Options{APIKey: key, APISecret: secret, Vendor: tc.vendor})
			a := do(t, tc.method, srv.URL+tc.target, tc.header)
			if a.code != tc.wantCode || a.status != tc.wantStatus {
				t.Errorf("answer HTTP %d status %q, want %d %q", a.code, a.status, tc.wantCode, tc.wantStatus)
			}
			v := strings.Join(srv.Violations(), "; ")
			if (tc.violation == "") != (v == "") || !strings.Contains(v, tc.violation) {
				t.Errorf("violations %q, want one containing %q", v, tc.violation)
			}
			tb.mu.Lock()
			defer tb.mu.Unlock()
			if len(tb.errs) != len(srv.Violations()) {
				t.Errorf("test failed %d times for %d violations", len(tb.errs), len(srv.Violations()))
			}
		})
	}
}

// The millisecond case above passes the fake's format check on purpose:
// only MaxSkew would refuse it, as the vendor's -16 does.
func TestFakeMaxSkew(t *testing.T) {
	t.Parallel()
	now := time.Unix(1630468800, 0)
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: key, APISecret: secret,
		Now: func() time.Time { return now }, MaxSkew: time.Minute})
	for offset, want := range map[int64]string{0: "0", 60: "0", -60: "0", 61: "-16", -3600: "-16"} {
		stamp := strconv.FormatInt(now.Unix()+offset, 10)
		h := seedHeaders()
		h["Timestamp"] = []string{stamp}
		h["Sign"] = []string{sign(key, secret, stamp)}
		if a := do(t, "GET", srv.URL+"/v3/getBalance", h); a.status != want {
			t.Errorf("offset %ds: status %q, want %q", offset, a.status, want)
		}
	}
	if a := do(t, "GET", srv.URL+"/v3/getBalance", seedHeaders()); a.code != 200 {
		t.Errorf("HTTP %d", a.code)
	}
}

func TestFakeAnswers(t *testing.T) {
	t.Parallel()
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: key, APISecret: secret, AppID: "app"})
	srv.SetBalance("1.5", "2", "3")
	srv.SetReport("m1", signedapitest.ReportItem{Number: "1", ReceiveTime: "2021-02-12T09:30:03+08:00", Status: "0"})
	srv.SetReport("m2", signedapitest.ReportItem{Number: "2", Status: "-1"})
	srv.SetReport("m3", signedapitest.ReportItem{Number: "3", Status: "1"})

	a := do(t, "GET", srv.URL+"/v3/getBalance", seedHeaders())
	if a.body["balance"] != "1.5" || a.body["gift"] != "2" || a.body["credit"] != "3" || a.body["reason"] != "success" {
		t.Errorf("balance answer %v", a.body)
	}
	a = do(t, "GET", srv.URL+"/v3/getReport?appId=app&msgIds=m1,m2,m3,m4", seedHeaders())
	for k, want := range map[string]string{"success": "1", "sending": "1", "fail": "1", "nofound": "1"} {
		if a.body[k] != want {
			t.Errorf("%s = %v, want %s", k, a.body[k], want)
		}
	}
	if items, _ := a.body["array"].([]any); len(items) != 3 {
		t.Errorf("array %v", a.body["array"])
	}
	if a := do(t, "GET", srv.URL+"/v3/getReport?appId=other&msgIds=m1", seedHeaders()); a.status != "-14" {
		t.Errorf("other appId: status %q", a.status)
	}

	// Faults: the queue first, in order, then the standing fault.
	srv.Enqueue(signedapitest.Fault{Status: -18}, signedapitest.Fault{HTTPStatus: 503})
	srv.SetFault(&signedapitest.Fault{Body: "{bad json"})
	if a := do(t, "GET", srv.URL+"/v3/getBalance", seedHeaders()); a.status != "-18" || a.body["reason"] != "port program unusual" {
		t.Errorf("first fault: %+v", a)
	}
	if a := do(t, "GET", srv.URL+"/v3/getBalance", seedHeaders()); a.code != 503 {
		t.Errorf("second fault: %+v", a)
	}
	for range 2 {
		if a := do(t, "GET", srv.URL+"/v3/getBalance", seedHeaders()); a.code != 200 || a.body != nil {
			t.Errorf("standing fault: %+v", a)
		}
	}
	srv.SetFault(nil)
	if a := do(t, "GET", srv.URL+"/v3/getBalance", seedHeaders()); a.status != "0" {
		t.Errorf("after SetFault(nil): %+v", a)
	}
	reqs := srv.Requests()
	if len(reqs) != 8 || reqs[0].Answer != "0" || reqs[3].Answer != "-18" || reqs[0].Timestamp != 1630468800 || !reqs[0].SignOK {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestSteppingClock(t *testing.T) {
	t.Parallel()
	start := time.Unix(100, 0)
	c := signedapitest.SteppingClock(start, time.Second)
	for i := range 3 {
		if got := c(); !got.Equal(start.Add(time.Duration(i) * time.Second)) {
			t.Errorf("reading %d = %s", i, got)
		}
	}
}
