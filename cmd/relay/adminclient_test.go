package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"relay/internal/ops"
)

// fakeAdmin is an admin API that checks each request's headers exactly
// and answers with handle.
func fakeAdmin(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body string)) *adminClient {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if got := r.Header.Get("Authorization"); got != "Bearer tok-123" {
			t.Errorf("Authorization %q", got)
		}
		if got := r.Header.Get("X-Relay-Actor"); got != "cli:ops" {
			t.Errorf("X-Relay-Actor %q", got)
		}
		if got := r.Header.Get("Accept"); got != "application/json" {
			t.Errorf("Accept %q", got)
		}
		if ct := r.Header.Get("Content-Type"); (len(raw) > 0) != (ct == "application/json") {
			t.Errorf("Content-Type %q with a body of %d bytes", ct, len(raw))
		}
		handle(w, r, string(raw))
	}))
	t.Cleanup(srv.Close)
	c, err := newAdminClient(srv.URL+"/", func(k string) string {
		return map[string]string{"RELAY_ADMIN_TOKEN": " tok-123 ", "USER": "ops"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	c.retry.first = time.Millisecond
	return c
}

func problemAnswer(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "urn:relay:problem:x", "title": title, "status": status, "detail": detail})
}

func TestAdminClientList(t *testing.T) {
	t.Parallel()
	c := fakeAdmin(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		want := "/admin/v1/registrations?cursor=c1&limit=50&since=2026-11-29T00%3A00%3A00Z&state=failed%2Cretrying&vendor=liasmart"
		if r.Method != "GET" || r.URL.RequestURI() != want {
			t.Errorf("%s %s, want GET %s", r.Method, r.URL.RequestURI(), want)
		}
		_, _ = io.WriteString(w, `{"items":[{"id":"a","vendor":"liasmart","message_id":"m1","state":"failed","attempts":8}],"next_cursor":"c2"}`)
	})
	page, err := c.list(context.Background(), ops.ReplayFilter{State: ops.States{"failed", "retrying"}, Vendor: "liasmart",
		Since: "2026-11-29T00:00:00Z"}, 50, "c1")
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "a" || page.Items[0].Attempts != 8 || page.NextCursor != "c2" {
		t.Fatalf("page %+v, err %v", page, err)
	}
}

func TestAdminClientProblemErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status        int
		title, detail string
		want          string
		transient     bool
		refused       bool
	}{
		{422, "Invalid request", "filter.state: unknown state", "HTTP 422: filter.state: unknown state", false, false},
		{401, "Unauthorized", "", "HTTP 401: Unauthorized", false, true},
		{404, "Not found", "no such route", "HTTP 404: no such route (is RELAY_ADMIN_TOKEN set on the server?)", false, true},
		{409, "Conflict", "still running", "HTTP 409: still running", true, false},
		{503, "Service unavailable", "", "HTTP 503: Service unavailable", true, false},
	} {
		c := fakeAdmin(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
			problemAnswer(w, tc.status, tc.title, tc.detail)
		})
		// Without a key, a replay is sent once whatever the answer.
		_, err := c.replay(context.Background(), ops.ReplayRequest{IDs: []string{"x"}}, "")
		if err == nil || err.Error() != tc.want || transient(err) != tc.transient || refused(err) != tc.refused {
			t.Errorf("%d: %v (transient %v, refused %v), want %q", tc.status, err, transient(err), refused(err), tc.want)
		}
	}
}

// TestAdminClientRetries: a replay with a key, and a listing, are retried
// while the answer is transient; a replay without a key never is.
func TestAdminClientRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := fakeAdmin(t, func(w http.ResponseWriter, r *http.Request, body string) {
		n := calls.Add(1)
		if r.URL.Path == "/admin/v1/replays" && body != `{"ids":["e1"]}` {
			t.Errorf("body %s", body)
		}
		if n < 3 {
			problemAnswer(w, http.StatusServiceUnavailable, "Service unavailable", "")
			return
		}
		if r.Header.Get("Idempotency-Key") != "" && r.Header.Get("Idempotency-Key") != "run:1" {
			t.Errorf("Idempotency-Key %q", r.Header.Get("Idempotency-Key"))
		}
		_, _ = io.WriteString(w, `{"replay_id":"r1","matched":1,"replayed":1,"items":[]}`)
	})
	ctx := context.Background()
	res, err := c.replay(ctx, ops.ReplayRequest{IDs: []string{"e1"}}, "run:1")
	if err != nil || res.Replayed != 1 || calls.Load() != 3 {
		t.Fatalf("keyed replay: %+v, %v after %d calls, want success on the 3rd", res, err, calls.Load())
	}
	calls.Store(0)
	if _, err := c.replay(ctx, ops.ReplayRequest{IDs: []string{"e1"}}, ""); err == nil || calls.Load() != 1 {
		t.Errorf("replay without a key: %v after %d calls, want one failed call", err, calls.Load())
	}
	calls.Store(-10) // every try fails
	if _, err := c.list(ctx, ops.ReplayFilter{}, 10, ""); !transient(err) || calls.Load() != -5 {
		t.Errorf("listing: %v after %d calls, want 5 tries", err, calls.Load()+10)
	}
}

func TestRetrier(t *testing.T) {
	t.Parallel()
	errBusy, errBad := errors.New("busy"), errors.New("bad")
	isBusy := func(err error) bool { return errors.Is(err, errBusy) }
	r := retrier{first: time.Millisecond, max: 2 * time.Millisecond, tries: 4}
	for _, tc := range []struct {
		name    string
		answers []error
		want    error
		calls   int
	}{
		{"success at once", []error{nil}, nil, 1},
		{"success after transient failures", []error{errBusy, errBusy, nil}, nil, 3},
		{"a permanent failure is not retried", []error{errBad}, errBad, 1},
		{"tries run out", []error{errBusy, errBusy, errBusy, errBusy, nil}, errBusy, 4},
	} {
		n := 0
		err := r.do(context.Background(), func() error { n++; return tc.answers[n-1] }, isBusy)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || n != tc.calls {
			t.Errorf("%s: %v after %d calls, want %v after %d", tc.name, err, n, tc.want, tc.calls)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := retrier{first: time.Hour, max: time.Hour, tries: 5}.do(ctx, func() error { n++; cancel(); return errBusy }, isBusy)
	if !errors.Is(err, errBusy) && !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("cancelled: %v after %d calls", err, n)
	}
}

func TestNewAdminClientAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ base, addr, want string }{
		{"", "", "http://127.0.0.1:8080"},
		{"", "0.0.0.0:9000", "http://127.0.0.1:9000"},
		{"", "[::]:9000", "http://[::1]:9000"},
		{"https://relay.internal:8443/", "", "https://relay.internal:8443"},
	} {
		c, err := newAdminClient(tc.base, func(k string) string {
			return map[string]string{"RELAY_ADMIN_TOKEN": "t", "RELAY_HTTP_ADDR": tc.addr}[k]
		})
		if err != nil || c.base != tc.want || c.actor != "cli" {
			t.Errorf("%q/%q: %v %v, want %s", tc.base, tc.addr, c, err, tc.want)
		}
	}
	if _, err := newAdminClient("ftp://x", func(string) string { return "t" }); !strings.Contains(fmtErr(err), "--url") {
		t.Errorf("ftp URL: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
