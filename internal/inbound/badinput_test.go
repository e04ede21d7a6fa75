package inbound_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"relay/internal/inbound"
	"relay/internal/testenv"
)

const (
	single = "/v1/registrations"
	batchP = "/v1/registrations/batch"
)

// badCase is one hostile request. headers are applied on top of the
// defaults (valid key, application/json); a header mapped to "" is removed.
type badCase struct {
	name    string
	method  string // default POST
	path    string // default single
	body    string
	headers map[string]string
	want    int
	field   string // the field a 422 must name
	// accept marks a deliberately valid case: 202 for this message_id, and
	// exactly one message in the stream.
	accept string
	// tcp sends over a real connection: app.Test cannot deliver requests
	// that fasthttp rejects while reading them.
	tcp bool
	// headOnly sends only the head, declaring the body's length: the
	// answer must come without the body being read.
	headOnly bool
	check    func(t *testing.T, resp *http.Response, body []byte, p problemBody)
}

func nestedArrays(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func batchOf(events ...string) string { return `{"events":[` + strings.Join(events, ",") + `]}` }

// padded is a valid single event padded with an unknown top-level field
// to exactly size bytes.
func padded(id string, size int) string {
	base := event(id, `"pad":""`)
	return strings.Replace(base, `"pad":""`, `"pad":"`+strings.Repeat("x", size-len(base))+`"`, 1)
}

func metadataOf(size int) string {
	// {"k":"xxx..."} of exactly size bytes.
	return `{"k":"` + strings.Repeat("x", size-8) + `"}`
}

func badCases() []badCase {
	noKey := map[string]string{"Authorization": ""}
	var many []string
	for i := range inbound.MaxBatchEvents + 1 {
		many = append(many, event(fmt.Sprintf("m-%d", i)))
	}
	id128 := strings.Repeat("a", inbound.MaxMessageID)
	deepObject := strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9000)

	return []badCase{
		// Bytes that are not JSON: 400.
		{name: "malformed JSON", body: `{vendor:"liasmart","message_id":"x","status":true}`, want: 400},
		{name: "truncated JSON", body: `{"vendor":"liasmart","message_id":"x","status":tr`, want: 400},
		{name: "truncated after key", body: `{"vendor":`, want: 400},
		{name: "empty body", body: ``, want: 400},
		{name: "whitespace body", body: " \n\t ", want: 400},
		{name: "trailing garbage", body: event("x") + ` x`, want: 400},
		{name: "two objects", body: event("x") + event("y"), want: 400},
		{name: "single quotes", body: `{'vendor':'liasmart'}`, want: 400},
		{name: "raw control char in string", body: "{\"vendor\":\"liasmart\",\"message_id\":\"a\x01b\",\"status\":true}", want: 400},
		{name: "invalid UTF-8 in message_id", body: "{\"vendor\":\"liasmart\",\"message_id\":\"a\xff\xfeb\",\"status\":true}", want: 400},
		{name: "invalid UTF-8 in metadata", body: event("x", "\"metadata\":{\"k\":\"\xc3\x28\"}"), want: 400},
		// encoding/json stops at depth 10000: 30000 levels fit in 64 KiB.
		{name: "30000 nested arrays in metadata", body: event("x", `"metadata":`+nestedArrays(30000)), want: 400},
		{name: "100000 nested arrays in metadata (over 64 KiB)", headOnly: true, body: event("x", `"metadata":`+nestedArrays(100000)), want: 413},
		{name: "100000 nested arrays in a batch", path: batchP, body: batchOf(event("x", `"metadata":`+nestedArrays(100000))), want: 400},
		{name: "9000 nested objects in metadata", body: event("x", `"metadata":`+deepObject), want: 422, field: "metadata"},
		// Compressed bodies are refused: inflating would bypass the limits.
		{name: "gzip declared, body not gzip", body: event("x"), headers: map[string]string{"Content-Encoding": "gzip"}, want: 415},

		// Duplicate keys: encoding/json keeps the last one.
		{name: "duplicate status, last true wins", body: `{"vendor":"liasmart","message_id":"dup-1","status":false,"status":true}`, want: 202, accept: "dup-1"},
		{name: "duplicate status, last false wins", body: `{"vendor":"liasmart","message_id":"dup-2","status":true,"status":false}`, want: 422, field: "status"},
		{name: "duplicate vendor, last unknown wins", body: `{"vendor":"liasmart","vendor":"acme","message_id":"dup-3","status":true}`, want: 422, field: "vendor"},

		// Wrong types.
		{name: "vendor number", body: `{"vendor":1,"message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "vendor object", body: `{"vendor":{},"message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "message_id number", body: `{"vendor":"liasmart","message_id":4134,"status":true}`, want: 422, field: "message_id"},
		{name: "message_id array", body: `{"vendor":"liasmart","message_id":["x"],"status":true}`, want: 422, field: "message_id"},
		{name: "status string true", body: `{"vendor":"liasmart","message_id":"x","status":"true"}`, want: 422, field: "status"},
		{name: "status false", body: `{"vendor":"liasmart","message_id":"x","status":false}`, want: 422, field: "status"},
		{name: "status 1", body: `{"vendor":"liasmart","message_id":"x","status":1}`, want: 422, field: "status"},
		{name: "occurred_at number", body: event("x", `"occurred_at":1764439200`), want: 422, field: "occurred_at"},
		{name: "metadata array", body: event("x", `"metadata":[1,2]`), want: 422, field: "metadata"},
		{name: "metadata string", body: event("x", `"metadata":"{}"`), want: 422, field: "metadata"},
		{name: "metadata number", body: event("x", `"metadata":1`), want: 422, field: "metadata"},

		// Missing fields.
		{name: "missing vendor", body: `{"message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "missing message_id", body: `{"vendor":"liasmart","status":true}`, want: 422, field: "message_id"},
		{name: "missing status", body: `{"vendor":"liasmart","message_id":"x"}`, want: 422, field: "status"},
		{name: "null vendor", body: `{"vendor":null,"message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "empty object", body: `{}`, want: 422, field: "status"},

		// Field rules.
		{name: "unknown vendor", body: `{"vendor":"acme","message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "vendor in other case", body: `{"vendor":"LiaSmart","message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "vendor with NUL", body: `{"vendor":"liasmart\u0000","message_id":"x","status":true}`, want: 422, field: "vendor"},
		{name: "empty message_id", body: event(""), want: 422, field: "message_id"},
		{name: "message_id 129 bytes", body: event(id128 + "a"), want: 422, field: "message_id"},
		{name: "message_id 128 bytes accepted", body: event(id128), want: 202, accept: id128},
		{name: "message_id with space", body: event("41 34"), want: 422, field: "message_id"},
		{name: "message_id with escaped control char", body: `{"vendor":"liasmart","message_id":"a\u0001b","status":true}`, want: 422, field: "message_id"},
		{name: "message_id with NUL", body: `{"vendor":"liasmart","message_id":"a\u0000","status":true}`, want: 422, field: "message_id"},
		{name: "message_id with DEL", body: `{"vendor":"liasmart","message_id":"a\u007f","status":true}`, want: 422, field: "message_id"},
		{name: "message_id non-ASCII", body: event("caf\u00e9"), want: 422, field: "message_id"},
		{name: "message_id emoji", body: `{"vendor":"liasmart","message_id":"\ud83d\ude00","status":true}`, want: 422, field: "message_id"},
		{name: "metadata over 4 KiB", body: event("x", `"metadata":`+metadataOf(inbound.MaxMetadataSize+1)), want: 422, field: "metadata"},
		{name: "metadata of exactly 4 KiB accepted", body: event("meta-4k", `"metadata":`+metadataOf(inbound.MaxMetadataSize)), want: 202, accept: "meta-4k"},
		{name: "metadata with \\u0000", body: event("x", `"metadata":{"k":"a\u0000b"}`), want: 422, field: "metadata"},
		{name: "metadata key with \\u0000", body: event("x", `"metadata":{"\u0000":1}`), want: 422, field: "metadata"},
		{name: "occurred_at not a time", body: event("x", `"occurred_at":"yesterday"`), want: 422, field: "occurred_at"},
		{name: "occurred_at without zone", body: event("x", `"occurred_at":"2026-11-29T18:00:00"`), want: 422, field: "occurred_at"},
		{name: "occurred_at with space", body: event("x", `"occurred_at":"2026-11-29 18:00:00Z"`), want: 422, field: "occurred_at"},
		{name: "occurred_at month 13", body: event("x", `"occurred_at":"2026-13-01T00:00:00Z"`), want: 422, field: "occurred_at"},
		{name: "several invalid fields", body: `{"vendor":"acme","message_id":"","status":false}`, want: 422, field: "message_id"},

		// Not an object.
		{name: "body array", body: `[` + event("x") + `]`, want: 422, field: "(body)"},
		{name: "body null", body: `null`, want: 422, field: "(body)"},
		{name: "body string", body: `"hello"`, want: 422, field: "(body)"},
		{name: "body number", body: `42`, want: 422, field: "(body)"},
		{name: "body true", body: `true`, want: 422, field: "(body)"},

		// Sizes.
		{name: "single body over 64 KiB", headOnly: true, body: padded("big", inbound.MaxSingleBody+1), want: 413},
		{name: "single body of exactly 64 KiB accepted", body: padded("big-ok", inbound.MaxSingleBody), want: 202, accept: "big-ok"},
		{name: "tracked message body over 64 KiB", headOnly: true, path: "/v1/messages", body: padded("big", inbound.MaxSingleBody+1), want: 413},
		{name: "batch over 1 MiB", headOnly: true, path: batchP, body: `{"events":[` + event("x") + `],"pad":"` + strings.Repeat("x", inbound.MaxBatchBody) + `"}`, want: 413},

		// Batch envelope.
		{name: "batch with 1001 events", path: batchP, body: batchOf(many...), want: 422, field: "events"},
		{name: "batch with 0 events", path: batchP, body: batchOf(), want: 422, field: "events"},
		{name: "batch events object", path: batchP, body: `{"events":{"0":` + event("x") + `}}`, want: 422, field: "events"},
		{name: "batch events string", path: batchP, body: `{"events":"[]"}`, want: 422, field: "events"},
		{name: "batch events null", path: batchP, body: `{"events":null}`, want: 422, field: "events"},
		{name: "batch without events", path: batchP, body: `{"event":[` + event("x") + `]}`, want: 422, field: "events"},
		{name: "batch body array", path: batchP, body: `[` + event("x") + `]`, want: 422, field: "(body)"},
		{name: "batch malformed", path: batchP, body: `{"events":[` + event("x"), want: 400},
		{name: "batch empty body", path: batchP, body: ``, want: 400},

		// Content types.
		{name: "text/plain", body: event("x"), headers: map[string]string{"Content-Type": "text/plain"}, want: 415},
		{name: "no content type", body: event("x"), headers: map[string]string{"Content-Type": ""}, want: 415},
		{name: "form urlencoded", body: "vendor=liasmart&message_id=x&status=true", headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 415},
		{name: "multipart", body: "--x\r\nContent-Disposition: form-data; name=\"vendor\"\r\n\r\nliasmart\r\n--x--\r\n", headers: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, want: 415},
		{name: "broken multipart", tcp: true, body: event("x"), headers: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, want: 400},
		{name: "unparseable content type", body: event("x"), headers: map[string]string{"Content-Type": "application/json; ="}, want: 415},
		{name: "batch text/plain", path: batchP, body: batchOf(event("x")), headers: map[string]string{"Content-Type": "text/plain"}, want: 415},

		// Authorization.
		{name: "missing Authorization", body: event("x"), headers: noKey, want: 401},
		{name: "Basic auth", body: event("x"), headers: map[string]string{"Authorization": "Basic YXBwMTpzZWNyZXQ="}, want: 401},
		{name: "Bearer with empty token", body: event("x"), headers: map[string]string{"Authorization": "Bearer "}, want: 401},
		{name: "Bearer with blank token", body: event("x"), headers: map[string]string{"Authorization": "Bearer    "}, want: 401},
		{name: "wrong key", body: event("x"), headers: map[string]string{"Authorization": "Bearer wrong-key"}, want: 401},
		{name: "key prefix", body: event("x"), headers: map[string]string{"Authorization": "Bearer " + testKey[:len(testKey)-1]}, want: 401},
		{name: "key name instead of secret", body: event("x"), headers: map[string]string{"Authorization": "Bearer app1"}, want: 401},
		{name: "token without scheme", body: event("x"), headers: map[string]string{"Authorization": testKey}, want: 401},
		{name: "batch without key", path: batchP, body: batchOf(event("x")), headers: noKey, want: 401},
		{name: "GET without key", method: "GET", path: single + "/" + inbound.EventID("liasmart", "x").String(), headers: noKey, want: 401},
		{name: "bad key checked before the body", body: `{`, headers: map[string]string{"Authorization": "Bearer nope"}, want: 401},
		{name: "lower-case bearer scheme accepted", body: event("lower-bearer"), headers: map[string]string{"Authorization": "bearer " + testKey}, want: 202, accept: "lower-bearer"},

		// Routes and methods.
		{name: "unknown route", path: "/v2/registrations", body: event("x"), want: 404},
		{name: "unknown route under v1", path: "/v1/nope", body: event("x"), want: 404},
		{name: "root", method: "GET", path: "/", want: 404},
		{name: "PUT registrations", method: "PUT", body: event("x"), want: 405},
		{name: "DELETE registrations", method: "DELETE", want: 405},
		{name: "PATCH batch", method: "PATCH", path: batchP, body: batchOf(event("x")), want: 405},
		{name: "GET registrations collection", method: "GET", want: 405},
		{name: "DELETE one registration", method: "DELETE", path: single + "/" + inbound.EventID("liasmart", "x").String(), want: 405},
		{name: "GET not a uuid", method: "GET", path: single + "/not-a-uuid", want: 404},
		{name: "GET unknown uuid", method: "GET", path: single + "/" + inbound.EventID("liasmart", "never-posted").String(), want: 404,
			check: func(t *testing.T, resp *http.Response, _ []byte, p problemBody) {
				if ra := resp.Header.Get("Retry-After"); ra != "1" {
					t.Errorf("Retry-After %q, want 1", ra)
				}
				if !strings.HasSuffix(p.Type, "not-yet-known") {
					t.Errorf("type %q does not end in not-yet-known", p.Type)
				}
			}},
	}
}

// TestBadInput sends hostile requests to a server backed by real NATS and
// PostgreSQL: each gets its exact status as problem+json, never a 5xx,
// and nothing reaches the stream except the deliberately valid ones.
func TestBadInput(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	for _, c := range badCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, st, nil)
			method, path := c.method, c.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = single
			}
			headers := map[string]string{"Authorization": testBearer, "Content-Type": "application/json"}
			if method == http.MethodGet || method == http.MethodDelete {
				delete(headers, "Content-Type")
			}
			for k, v := range c.headers {
				headers[k] = v
			}
			var body []byte
			if c.body != "" || method == http.MethodPost {
				body = []byte(c.body)
			}
			var resp *http.Response
			var out []byte
			if c.headOnly {
				resp, out = sendHead(t, e.listen(t), method, path, len(body), headers)
			} else if c.tcp {
				resp, out = doTCP(t, e.listen(t), method, path, bytes.NewReader(body), headers)
			} else {
				resp, out = e.do(t, method, path, body, headers)
			}
			if resp.StatusCode >= 500 {
				t.Fatalf("5xx for client input: %d %s", resp.StatusCode, truncate(out))
			}
			if c.accept != "" {
				checkAccepted(t, resp, out, http.StatusAccepted, c.accept, false)
				if n := e.msgs(t); n != 1 {
					t.Errorf("stream holds %d messages, want 1", n)
				}
				return
			}
			p := checkProblem(t, resp, out, c.want, c.field)
			if c.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if c.check != nil {
				c.check(t, resp, out, p)
			}
			if n := e.msgs(t); n != 0 {
				t.Errorf("stream holds %d messages after a rejected request, want 0", n)
			}
		})
	}
}

type acceptedBody struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
}

func checkAccepted(t *testing.T, resp *http.Response, body []byte, want int, messageID string, dup bool) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, want, truncate(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var a acceptedBody
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, truncate(body))
	}
	want2 := acceptedBody{ID: inbound.EventID("liasmart", messageID).String(), Status: "accepted", Duplicate: dup}
	if a != want2 {
		t.Errorf("answer %+v, want %+v", a, want2)
	}
}
