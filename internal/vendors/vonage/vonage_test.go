package vonage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/vonage"
	"relay/internal/vendors/vonage/vonagetest"
)

const (
	testKey    = "k7f3a9c2"
	testSecret = "Zq8vT2mN5pL1xR4w"
)

func newClient(baseURL string, timeout time.Duration) *vonage.Client {
	return vonage.New(vonage.Config{BaseURL: baseURL, APIKey: testKey, APISecret: testSecret, Timeout: timeout})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "vonage",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return newClient(baseURL, timeout)
		},
		Fake: func(t *testing.T) confirmtest.Fake {
			return vonagetest.NewServer(t, vonagetest.Options{APIKey: testKey, APISecret: testSecret})
		},
		MessageID: func(n int) string { return fmt.Sprintf("0A00000001%07X", n) },
		Secrets:   []string{testSecret, testKey},
		// Vonage answers a repeat with the same 200.
		Repeat: confirm.Confirmed,
		// The Conversion API documents no Retry-After; the client reads
		// one if it comes (TestRetryAfterRead).
		NoRetryAfter:    true,
		StatusIsVerdict: true,
	})
}

// TestClassify holds every status the Conversion API documents to its
// outcome, through the client and the fake's own words.
func TestClassify(t *testing.T) {
	t.Parallel()
	fake := vonagetest.NewServer(t, vonagetest.Options{APIKey: testKey, APISecret: testSecret})
	client := newClient(fake.URL(), 5*time.Second)
	for i, c := range []struct {
		status  int
		want    confirm.Outcome
		meaning string
	}{
		{200, confirm.Confirmed, "conversion recorded"},
		{401, confirm.Credentials, "wrong credentials: Invalid credentials supplied. You did not provide correct credentials."},
		{402, confirm.Credentials, "conversion is not enabled for this account (Vonage support enables it): Conversion has not been enabled for your account"},
		{420, confirm.Permanent, "invalid parameters: Invalid parameters. The value of one or more parameters is invalid."},
		{422, confirm.Permanent, "invalid parameters: Invalid parameters. The value of one or more parameters is invalid."},
		{423, confirm.Permanent, "invalid parameters: Invalid parameters. The value of one or more parameters is invalid."},
		{429, confirm.Transient, "too many requests: Too Many Requests"},
		{500, confirm.Transient, "Vonage server error: Internal Error"},
		{503, confirm.Transient, "Vonage server error: Internal Error"},
	} {
		id := fmt.Sprintf("0B00000000000%04X", i)
		fake.Status(id, c.status)
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
		if err != nil {
			t.Errorf("%d: error %v", c.status, err)
			continue
		}
		if a.Outcome != c.want || a.Status != confirm.HTTPStatusText(c.status) || a.HTTPStatus != c.status || a.Meaning != c.meaning {
			t.Errorf("%d: %+v, want %s %q", c.status, a, c.want, c.meaning)
		}
	}
}

// TestClassifyUndocumented: a status Vonage does not document is retried.
func TestClassifyUndocumented(t *testing.T) {
	t.Parallel()
	for _, s := range []int{400, 403, 404, 409, 418} {
		if o, _ := vonage.Classify(s); o != confirm.Transient {
			t.Errorf("Classify(%d) = %s, want transient", s, o)
		}
	}
}

// TestRequest checks the wire format against a recorder of its own, not
// only the fake: the form's fields and encoding, and where the
// credentials go.
func TestRequest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []*http.Request
	var bodies []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		got, bodies = append(got, r), append(bodies, r.PostForm)
		mu.Unlock()
		_, _ = w.Write([]byte("OK"))
	}))
	t.Cleanup(srv.Close)
	client := newClient(srv.URL, 5*time.Second)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	if _, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: "0C00000000000001", At: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: "0C00000000000002"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	r, f := got[0], bodies[0]
	if r.Method != http.MethodPost || r.URL.Path != "/conversions/sms" || r.URL.RawQuery != "" || r.Header.Get("Authorization") != "" {
		t.Errorf("request %s %s (Authorization %q)", r.Method, r.URL, r.Header.Get("Authorization"))
	}
	want := url.Values{"api_key": {testKey}, "api_secret": {testSecret}, "message-id": {"0C00000000000001"},
		"delivered": {"true"}, "timestamp": {"2026-01-02 02:04:05"}}
	if f.Encode() != want.Encode() {
		t.Errorf("form %q, want %q (the time in UTC)", f.Encode(), want.Encode())
	}
	if _, ok := bodies[1]["timestamp"]; ok {
		t.Errorf("a conversion without a time sent timestamp=%q; Vonage takes the time of receipt without one", bodies[1].Get("timestamp"))
	}
}

// TestEmptyMessageID: an id Vonage could never accept costs no call.
func TestEmptyMessageID(t *testing.T) {
	t.Parallel()
	fake := vonagetest.NewServer(t, vonagetest.Options{})
	a, err := newClient(fake.URL(), time.Second).Confirm(context.Background(), confirm.Conversion{})
	if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" {
		t.Errorf("%+v, %v: want permanent, invalid message_id", a, err)
	}
	if n := fake.Calls(""); n != 0 {
		t.Errorf("%d calls for an empty id", n)
	}
}

// TestWrongCredentials: the fake checks the credentials as Vonage does.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	fake := vonagetest.NewServer(t, vonagetest.Options{APIKey: testKey, APISecret: "another-secret-1"})
	a, err := newClient(fake.URL(), 5*time.Second).Confirm(context.Background(), confirm.Conversion{MessageID: "0D00000000000001"})
	if err != nil || a.Outcome != confirm.Credentials || a.HTTPStatus != 401 {
		t.Errorf("%+v, %v: want credentials", a, err)
	}
}

// TestRetryAfterRead: a Retry-After Vonage (or its edge) sends is kept.
func TestRetryAfterRead(t *testing.T) {
	t.Parallel()
	fake := vonagetest.NewServer(t, vonagetest.Options{})
	id := "0E00000000000001"
	fake.Raw(id, confirmtest.Raw{Status: 429, Header: http.Header{"Retry-After": {"7"}}, ContentType: "application/json", Body: vonagetest.Body(429)})
	a, err := newClient(fake.URL(), 5*time.Second).Confirm(context.Background(), confirm.Conversion{MessageID: id})
	if err != nil || a.Outcome != confirm.Transient || a.RetryAfter != 7*time.Second {
		t.Errorf("%+v, %v: want transient with RetryAfter 7s", a, err)
	}
}

// TestCallerClientFollowsNoRedirect: a caller's http.Client is copied
// without its redirect policy, and the caller's own is left alone.
func TestCallerClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	followed := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed <- struct{}{}
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	own := &http.Client{}
	client := vonage.New(vonage.Config{BaseURL: srv.URL, APIKey: testKey, APISecret: testSecret, HTTPClient: own})
	a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: "0F00000000000001"})
	if err == nil || a.Outcome != confirm.Transient || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("%+v, %v: want a transient unreadable redirect", a, err)
	}
	select {
	case <-followed:
		t.Error("the redirect was followed")
	default:
	}
	if own.CheckRedirect != nil {
		t.Error("the caller's http.Client was changed")
	}
}

// TestOverlapsSeen: the fake notes two calls in flight for one id. Both
// are held until the fake has seen them together, then cancelled.
func TestOverlapsSeen(t *testing.T) {
	t.Parallel()
	fake := vonagetest.NewServer(t, vonagetest.Options{})
	id := "1000000000000001"
	fake.Raw(id, confirmtest.Raw{Delay: time.Minute, Body: "OK"})
	fake.Raw(id, confirmtest.Raw{Delay: time.Minute, Body: "OK"})
	client := newClient(fake.URL(), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = client.Confirm(ctx, confirm.Conversion{MessageID: id})
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); fake.Overlaps()[id] < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if fake.Overlaps()[id] != 2 {
		t.Errorf("overlaps %v, want %s: 2", fake.Overlaps(), id)
	}
}
