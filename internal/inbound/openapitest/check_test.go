package openapitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"relay/internal/inbound/openapitest"
)

const (
	acceptedJSON = `{"id":"57cce200-3726-5354-9709-aa9f7de7d361","status":"accepted","duplicate":false}`
	eventJSON    = `{"vendor":"liasmart","message_id":"4134","status":true}`
	problemJSON  = `{"type":"urn:relay:problem:x","title":"X","status":%d}`
)

var (
	jsonCT    = http.Header{"Content-Type": []string{"application/json"}}
	problemCT = http.Header{"Content-Type": []string{"application/problem+json"}}
)

func problemOf(status int) string { return fmt.Sprintf(problemJSON, status) }

// TestCheckCatchesDrift: the validator accepts exchanges the document
// describes and refuses the others, which is what makes the hooks in the
// HTTP tests worth having.
func TestCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	v := openapitest.Relay(t)
	for _, c := range []struct {
		name, method, path, auth, reqBody string
		status                            int
		header                            http.Header
		respBody                          string
		ok                                bool
	}{
		{"accepted event", "POST", "/v1/registrations", "Bearer k", eventJSON, 202, jsonCT, acceptedJSON, true},
		{"undocumented status", "POST", "/v1/registrations", "Bearer k", eventJSON, 201, jsonCT, acceptedJSON, false},
		{"answer missing a field", "POST", "/v1/registrations", "Bearer k", eventJSON, 202, jsonCT, `{"id":"57cce200-3726-5354-9709-aa9f7de7d361","status":"accepted"}`, false},
		{"invalid request accepted", "POST", "/v1/registrations", "Bearer k", `{"vendor":"liasmart","status":true}`, 202, jsonCT, acceptedJSON, false},
		{"invalid request refused", "POST", "/v1/registrations", "Bearer k", `{"vendor":"liasmart","status":true}`, 422, problemCT,
			`{"type":"urn:relay:problem:validation","title":"Validation failed","status":422,"errors":[{"field":"message_id","detail":"is required"}]}`, true},
		{"422 without errors", "POST", "/v1/registrations", "Bearer k", `{}`, 422, problemCT, problemOf(422), false},
		{"accepted without a key", "POST", "/v1/registrations", "", eventJSON, 202, jsonCT, acceptedJSON, false},
		{"401 without WWW-Authenticate", "POST", "/v1/registrations", "", eventJSON, 401, problemCT, problemOf(401), false},
		{"503 without Retry-After", "GET", "/admin/v1/stats", "Bearer a", "", 503, problemCT, problemOf(503), false},
		{"error as plain JSON", "GET", "/admin/v1/stats", "Bearer a", "", 404, jsonCT, problemOf(404), false},
		{"unknown route 404", "GET", "/v2/nothing", "", "", 404, problemCT, problemOf(404), true},
		{"unknown route 200", "GET", "/v2/nothing", "", "", 200, jsonCT, `{}`, false},
		{"other method 405", "DELETE", "/v1/registrations", "Bearer k", "", 405, problemCT, problemOf(405), true},
		{"headers too large on any route", "POST", "/v1/registrations", "Bearer k", "", 431, problemCT, problemOf(431), true},
		{"internal error on any route", "GET", "/healthz", "", "", 500, problemCT, problemOf(500), true},
		{"internal error as plain JSON", "GET", "/healthz", "", "", 500, jsonCT, `{}`, false},
		{"trailing slash routed as fiber does", "GET", "/healthz/", "", "", 200, jsonCT, `{"status":"ok"}`, true},
		{"trends as documented", "GET", "/admin/v1/trends?minutes=2", "Bearer a", "", 200, jsonCT,
			`{"bucket_seconds":60,"from":"2026-12-01T10:00:00Z","to":"2026-12-01T10:02:00Z","points":[` +
				`{"at":"2026-12-01T10:00:00Z","confirmed":1,"already_confirmed":0,"failures":0,"calls":1,"latency_ms_p50":12.5,"latency_ms_p95":12.5},` +
				`{"at":"2026-12-01T10:01:00Z","confirmed":0,"already_confirmed":0,"failures":0,"calls":0,"latency_ms_p50":null,"latency_ms_p95":null}]}`, true},
		{"trends minutes out of range accepted", "GET", "/admin/v1/trends?minutes=1441", "Bearer a", "", 200, jsonCT,
			`{"bucket_seconds":60,"from":"2026-12-01T10:00:00Z","to":"2026-12-01T10:02:00Z","points":[]}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.reqBody))
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			if c.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			header := c.header.Clone()
			if c.status == 401 && c.name != "401 without WWW-Authenticate" {
				header.Set("WWW-Authenticate", `Bearer realm="relay"`)
			}
			err := v.Check(req, []byte(c.reqBody), c.status, header, []byte(c.respBody))
			if c.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.ok && err == nil {
				t.Error("accepted an exchange the document does not describe")
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	v := openapitest.Relay(b)
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/registrations", strings.NewReader(eventJSON))
		req.Header.Set("Authorization", "Bearer x")
		req.Header.Set("Content-Type", "application/json")
		if err := v.Check(req, []byte(eventJSON), 202, jsonCT, []byte(acceptedJSON)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckEncodingRefusedAnywhere: a 415 is an answer of any path when
// the request declared a Content-Encoding, and of no path otherwise
// unless the operation lists it.
func TestCheckEncodingRefusedAnywhere(t *testing.T) {
	t.Parallel()
	v := openapitest.Relay(t)
	for _, c := range []struct {
		name, method, path, encoding string
		ok                           bool
	}{
		{"gzip to a GET", "GET", "/healthz", "gzip", true},
		{"gzip to an unknown route", "POST", "/v2/nothing", "gzip", true},
		{"identity, gzip to an admin GET", "GET", "/admin/v1/stats", "identity, gzip", true},
		{"no encoding to a GET", "GET", "/healthz", "", false},
		{"identity to a GET", "GET", "/healthz", "identity", false},
		{"no encoding to an unknown route", "POST", "/v2/nothing", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(c.method, c.path, nil)
			req.Header.Set("Authorization", "Bearer a")
			if c.encoding != "" {
				req.Header.Set("Content-Encoding", c.encoding)
			}
			err := v.Check(req, nil, 415, problemCT, []byte(problemOf(415)))
			if c.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.ok && err == nil {
				t.Error("accepted a 415 the document does not describe")
			}
		})
	}
}
