package inbound_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
	"relay/internal/monitor"
	"relay/internal/ops"
	"relay/internal/testenv"
)

// bomb is a small body that inflates, through two layers of gzip, to
// more than 1 GiB: 64 gzip members of 16 MiB of zeros each (a gzip stream
// may hold several members), gzipped again.
func bomb(t *testing.T) (body []byte, inflated int) {
	t.Helper()
	const member, members = 16 << 20, 64
	inner := bytes.Repeat(gz(t, make([]byte, member)), members)
	return gz(t, inner), member * members
}

// everyRoute lists one concrete request path per served route (HEAD
// twins left out), plus paths no route matches.
func everyRoute(t *testing.T, srv *inbound.Server) [][2]string {
	t.Helper()
	params := strings.NewReplacer(":id", "0b6d1e5c-3f1c-4b1c-9a43-0c2d1f0e8a11", ":vendor", "liasmart", "*", "app.js")
	var out [][2]string
	for _, r := range srv.App().GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue
		}
		out = append(out, [2]string{r.Method, params.Replace(r.Path)})
	}
	if len(out) < 15 {
		t.Fatalf("only %d routes: %v", len(out), out)
	}
	return append(out, [2]string{http.MethodPost, "/nowhere"}, [2]string{http.MethodPost, "/v1/nowhere"},
		[2]string{http.MethodPut, "/admin/v1/replays"})
}

// TestCompressionBombOnEveryRoute: a body declaring a Content-Encoding is
// refused 415 on every route, unmatched ones included, before the key
// check, the signature check or any handler could inflate it; the server
// allocates nothing near the inflated size. The credentials are valid and
// every service is configured, so that a route which did read the body
// would inflate it. Not parallel: it measures the process's allocations.
func TestCompressionBombOnEveryRoute(t *testing.T) {
	st, _ := testenv.Store(t)
	e := newEnv(t, st, func(c *inbound.Config) {
		c.AdminToken = adminToken
		c.SignedKeys = map[string]string{"app1": testKey}
	})
	e.srv.SetAdmin(ops.New(ops.Config{Store: st, JS: e.js, Logger: quietLogger()}))
	e.srv.SetMessageService(&monitor.Tracker{Store: st, Vendors: map[string]string{"laaffic": "app"}, TTL: time.Hour})
	e.srv.SetBalanceService(st)
	body, inflated := bomb(t)
	if len(body) > 64<<10 {
		t.Fatalf("the bomb is %d bytes, not small", len(body))
	}
	const bound = 8 << 20
	// Each request is signed at another second, so that none is refused
	// as a replay of the one before: all of them pass the signature check
	// unless refused for their encoding.
	at := time.Now().Add(-2 * time.Minute)
	for _, r := range everyRoute(t, e.srv) {
		method, path := r[0], r[1]
		auth := testBearer
		if strings.HasPrefix(path, "/admin") {
			auth = "Bearer " + adminToken
		}
		for _, encoding := range []string{"gzip, gzip", "GZIP,gzip", "identity, gzip, gzip"} {
			req := httptest.NewRequest(method, path, bytes.NewReader(body))
			req.Header.Set("Authorization", auth)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", encoding)
			at = at.Add(time.Second)
			req.Header.Set(inbound.SignatureHeader, inbound.Sign(testKey, at, body))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			resp, err := e.srv.App().Test(req, -1)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
				t.Errorf("%s %s (Content-Encoding: %s): a %d-byte body inflating to %d MiB made the server allocate %d MiB",
					method, path, encoding, len(body), inflated>>20, alloc>>20)
			}
			if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > bound {
				t.Errorf("%s %s (Content-Encoding: %s): the heap grew by %d MiB", method, path, encoding, grown>>20)
			}
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("%s %s (Content-Encoding: %s): status %d, want 415; body %s", method, path, encoding, resp.StatusCode, truncate(out))
				continue
			}
			p := checkProblem(t, resp, out, http.StatusUnsupportedMediaType, "")
			if !strings.Contains(p.Detail, "Content-Encoding") {
				t.Errorf("%s %s: detail %q does not name the Content-Encoding", method, path, p.Detail)
			}
			openapitest.CheckExchange(t, req, body, resp, out)
		}
	}
	if n := e.msgs(t); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}

// TestContentEncodingIdentityOrRefused: identity, in any case, or no
// coding at all is a plain body; any other coding, in any Content-Encoding
// header, is refused.
func TestContentEncodingIdentityOrRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	for i, c := range []struct {
		encodings []string
		want      int
	}{
		{nil, http.StatusAccepted},
		{[]string{"identity"}, http.StatusAccepted},
		{[]string{"IDENTITY"}, http.StatusAccepted},
		{[]string{"Identity, identity"}, http.StatusAccepted},
		{[]string{"identity, gzip"}, http.StatusUnsupportedMediaType},
		{[]string{"gzip"}, http.StatusUnsupportedMediaType},
		{[]string{"deflate"}, http.StatusUnsupportedMediaType},
		{[]string{"br"}, http.StatusUnsupportedMediaType},
		{[]string{"zstd"}, http.StatusUnsupportedMediaType},
		{[]string{"x-unknown"}, http.StatusUnsupportedMediaType},
		{[]string{"identity", "gzip"}, http.StatusUnsupportedMediaType},
		{[]string{"gzip", "identity"}, http.StatusUnsupportedMediaType},
	} {
		id := "ce-" + string(rune('a'+i))
		body := []byte(event(id))
		req := httptest.NewRequest(http.MethodPost, single, bytes.NewReader(body))
		req.Header.Set("Authorization", testBearer)
		req.Header.Set("Content-Type", "application/json")
		for _, v := range c.encodings {
			req.Header.Add("Content-Encoding", v)
		}
		resp, err := e.srv.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.want == http.StatusAccepted {
			checkAccepted(t, resp, out, c.want, id, false)
		} else {
			checkProblem(t, resp, out, c.want, "")
		}
	}
}
