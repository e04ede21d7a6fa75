package confirm_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
)

func TestCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status string
		want   *int
	}{
		{"1000", ptr(1000)}, {"-30001", ptr(-30001)}, {"20404", ptr(20404)},
		{"OK", nil}, {"HTTP 503", nil}, {"", nil}, {"99999999999", nil}, {"2147483647", ptr(2147483647)},
		{"-2147483649", nil}, {" 1", nil},
	} {
		got := confirm.Answer{Status: c.status}.Code()
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Errorf("Code(%q) = %v, want %v", c.status, deref(got), deref(c.want))
		}
	}
}

func TestClass(t *testing.T) {
	t.Parallel()
	transient503 := confirm.Answer{Outcome: confirm.Transient, Status: confirm.HTTPStatusText(503), HTTPStatus: 503}
	for _, c := range []struct {
		name string
		a    confirm.Answer
		err  error
		want string
	}{
		{"confirmed", confirm.Answer{Outcome: confirm.Confirmed, Status: "1000", HTTPStatus: 200}, nil, "confirmed"},
		{"a vendor code is never a label", confirm.Answer{Outcome: confirm.Transient, Status: "Throttling.User", HTTPStatus: 200}, nil, "transient"},
		{"status only", transient503, nil, "http_503"},
		{"timeout", confirm.Answer{Outcome: confirm.Transient}, errors.Join(confirm.ErrTimeout), "timeout"},
		{"too large", transient503, confirm.ErrTooLarge, "too_large"},
		{"unreadable", confirm.Answer{Outcome: confirm.Transient, HTTPStatus: 200}, confirm.ErrUnreadable, "bad_response"},
		{"transport", confirm.Answer{Outcome: confirm.Transient}, confirm.ErrTransport, "transport"},
		{"other error", confirm.Answer{Outcome: confirm.Transient}, errors.New("boom"), "error"},
		{"status out of range", confirm.Answer{Outcome: confirm.Transient, Status: "HTTP 999", HTTPStatus: 999}, nil, "transient"},
	} {
		if got := confirm.Class(c.a, c.err); got != c.want {
			t.Errorf("%s: Class = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestFailKeepsTheTextAndBothChains(t *testing.T) {
	t.Parallel()
	inner := errors.New("liasmart: timeout after 10s")
	err := confirm.Fail(confirm.ErrTimeout, inner)
	if err.Error() != inner.Error() || !errors.Is(err, confirm.ErrTimeout) || !errors.Is(err, inner) {
		t.Errorf("Fail: %q, is timeout %v, is inner %v", err, errors.Is(err, confirm.ErrTimeout), errors.Is(err, inner))
	}
}

func TestTransportError(t *testing.T) {
	t.Parallel()
	// A refused connection: a transport error without the URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/account/MA-SECRET-ID/x", nil)
	_, err = confirm.NewHTTPClient(0).Do(req)
	got := confirm.TransportError(ctx, "plivo", 5*time.Second, err)
	if !errors.Is(got, confirm.ErrTransport) || strings.Contains(got.Error(), "MA-SECRET-ID") || !strings.HasPrefix(got.Error(), "plivo: ") {
		t.Errorf("refused connection: %v", got)
	}

	// A vendor slower than the timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, slow.URL, nil)
	_, err = confirm.NewHTTPClient(0).Do(req)
	if got := confirm.TransportError(ctx, "twilio", 50*time.Millisecond, err); !errors.Is(got, confirm.ErrTimeout) {
		t.Errorf("slow vendor: %v, want ErrTimeout", got)
	}
}

func TestNewHTTPClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := confirm.NewHTTPClient(4).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Errorf("status %d, followed %v: want the 302 itself", resp.StatusCode, followed.Load())
	}
}

// TestHTTPClientFor: a caller's client is copied, never changed, and the
// copy keeps its settings but follows no redirect; without one the
// client is NewHTTPClient's.
func TestHTTPClientFor(t *testing.T) {
	t.Parallel()
	errMine := errors.New("the caller's policy")
	given := &http.Client{Timeout: 3 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return errMine }}
	hc := confirm.HTTPClientFor(given, 4)
	if hc == given || hc.Timeout != given.Timeout {
		t.Errorf("got %p with timeout %s, want a copy of %p keeping %s", hc, hc.Timeout, given, given.Timeout)
	}
	if err := hc.CheckRedirect(nil, nil); !errors.Is(err, http.ErrUseLastResponse) {
		t.Errorf("the copy's CheckRedirect says %v, want http.ErrUseLastResponse", err)
	}
	if err := given.CheckRedirect(nil, nil); !errors.Is(err, errMine) {
		t.Errorf("the caller's CheckRedirect now says %v: its client was changed", err)
	}
	own := confirm.HTTPClientFor(nil, 7)
	tr, ok := own.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != 7 || own.CheckRedirect == nil {
		t.Errorf("without a client: transport %T (%+v), want NewHTTPClient(7)'s", own.Transport, tr)
	}
}

func TestTimeoutOrDefault(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]time.Duration{0: confirm.DefaultTimeout, -time.Second: confirm.DefaultTimeout, 3 * time.Second: 3 * time.Second} {
		if got := confirm.TimeoutOrDefault(in); got != want {
			t.Errorf("TimeoutOrDefault(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestReadAnswer: an answer is read whole up to MaxAnswer and refused
// past it, and one that breaks off is a transport failure.
func TestReadAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/whole":
			w.Write([]byte(strings.Repeat("a", confirm.MaxAnswer)))
		case "/over":
			w.Write([]byte(strings.Repeat("a", confirm.MaxAnswer+1)))
		case "/cut":
			// A declared length the body never reaches.
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("short"))
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path string
		n    int
		err  error
	}{{"/whole", confirm.MaxAnswer, nil}, {"/over", 0, confirm.ErrTooLarge}, {"/cut", 0, confirm.ErrTransport}} {
		resp, err := srv.Client().Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := confirm.ReadAnswer(context.Background(), "v", time.Second, resp)
		resp.Body.Close()
		if len(raw) != c.n || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: %d bytes, %v; want %d bytes, %v", c.path, len(raw), err, c.n, c.err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "v: ") {
			t.Errorf("%s: error %q does not name the vendor", c.path, err)
		}
	}
}

func TestReceived(t *testing.T) {
	t.Parallel()
	a := confirm.Received(&http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}})
	want := confirm.Answer{Outcome: confirm.Transient, HTTPStatus: 429, Status: "HTTP 429", RetryAfter: 7 * time.Second}
	if a != want {
		t.Errorf("Received = %+v, want %+v", a, want)
	}
	if c := confirm.Class(a, nil); c != "http_429" {
		t.Errorf("its class %q, want http_429: an answer that is only a status", c)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {" 7 ", 7 * time.Second}, {"0", 0}, {"-3", 0}, {"abc", 0},
		{"99999999999", 0}, {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0}, {now.Add(400 * 24 * time.Hour).Format(http.TimeFormat), 0},
	} {
		if got := confirm.ParseRetryAfter(c.v, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", c.v, got, c.want)
		}
	}
}

func TestOutcomeNames(t *testing.T) {
	t.Parallel()
	want := map[confirm.Outcome]string{confirm.Confirmed: "confirmed", confirm.AlreadyConfirmed: "already_confirmed",
		confirm.Permanent: "permanent", confirm.Credentials: "credentials", confirm.Transient: "transient"}
	for o, name := range want {
		if o.String() != name {
			t.Errorf("%d: %q, want %q", int(o), o.String(), name)
		}
		if o.Success() != (o == confirm.Confirmed || o == confirm.AlreadyConfirmed) {
			t.Errorf("%s.Success() = %v", name, o.Success())
		}
	}
}

func ptr(n int) *int { return &n }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestExchange(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		if r.URL.Path == "/huge" {
			_, _ = w.Write([]byte(strings.Repeat("x", confirm.MaxAnswer+1)))
			return
		}
		_, _ = w.Write([]byte("slow down"))
	}))
	defer srv.Close()
	hc := confirm.NewHTTPClient(2)
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	a, header, raw, err := confirm.Exchange(ctx, hc, req, "v", time.Second)
	if err != nil || a.Outcome != confirm.Transient || a.Status != "HTTP 429" || a.RetryAfter != 7*time.Second ||
		header.Get("Content-Type") != "text/plain" || string(raw) != "slow down" {
		t.Errorf("429: %+v %v %q %v", a, header, raw, err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/huge", nil)
	if a, _, raw, err := confirm.Exchange(ctx, hc, req, "v", time.Second); !errors.Is(err, confirm.ErrTooLarge) || a.HTTPStatus != 429 || raw != nil {
		t.Errorf("huge: %+v %d bytes %v, want ErrTooLarge with the status kept", a, len(raw), err)
	}
	srv.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	if a, header, _, err := confirm.Exchange(ctx, hc, req, "v", time.Second); !errors.Is(err, confirm.ErrTransport) || a != (confirm.Answer{Outcome: confirm.Transient}) || header != nil {
		t.Errorf("no server: %+v %v %v, want a bare transient ErrTransport", a, header, err)
	}
}
