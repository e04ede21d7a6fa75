package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// Transport checks every exchange that passes through it against V. A
// mismatch fails T when T is set (the answer is still returned, for the
// test's own assertions), or else is the round trip's error.
type Transport struct {
	Base http.RoundTripper // nil: http.DefaultTransport
	V    *Validator
	T    testing.TB
	// Deferred (with T) records the exchanges and validates them when
	// the test ends (Flush, which Client registers with T.Cleanup): a
	// validation costs milliseconds of CPU (kin-openapi compiles the JSON
	// Schema 2020-12 validator on every call), which must not slow the
	// request loops of tests that measure a rate.
	Deferred bool

	mu      sync.Mutex
	pending []exchange
}

type exchange struct {
	req      *http.Request
	reqBody  []byte
	status   int
	header   http.Header
	respBody []byte
}

// RoundTrip sends req, buffering both bodies to validate them.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: reading the request body: %w", err)
		}
		body = b
	}
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		// ContentLength stays as the caller set it: -1 is still sent
		// chunked.
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: reading the answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if tr.T != nil && tr.Deferred {
		tr.mu.Lock()
		tr.pending = append(tr.pending, exchange{out, body, resp.StatusCode, resp.Header.Clone(), respBody})
		tr.mu.Unlock()
		return resp, nil
	}
	if err := tr.V.Check(out, body, resp.StatusCode, resp.Header, respBody); err != nil {
		if tr.T == nil {
			return nil, err
		}
		tr.T.Errorf("OpenAPI: %v", err)
	}
	return resp, nil
}

// Flush validates the exchanges a Deferred transport recorded, failing T
// for each mismatch.
func (tr *Transport) Flush() {
	tr.mu.Lock()
	pending := tr.pending
	tr.pending = nil
	tr.mu.Unlock()
	for _, x := range pending {
		if err := tr.V.Check(x.req, x.reqBody, x.status, x.header, x.respBody); err != nil {
			tr.T.Errorf("OpenAPI: %v", err)
		}
	}
}

// Client is base (nil: a new client) with its transport wrapped in a
// Transport checking every exchange against the relay document; a
// mismatch fails t. The exchanges are validated when t ends (Deferred).
func Client(t testing.TB, base *http.Client) *http.Client {
	t.Helper()
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	tr := &Transport{Base: c.Transport, V: Relay(t), T: t, Deferred: true}
	t.Cleanup(tr.Flush)
	c.Transport = tr
	return c
}

// CheckExchange validates one exchange made without a client (fiber's
// app.Test, a raw connection) and fails t on a mismatch.
func CheckExchange(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	if err := Relay(t).Check(req, reqBody, resp.StatusCode, resp.Header, respBody); err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

func decodeJSON(b []byte) (any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("the body is not JSON: %w", err)
	}
	return v, nil
}
