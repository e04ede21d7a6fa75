package telesign_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/telesign"
	"relay/internal/vendors/telesign/telesigntest"
)

const (
	testCustomerID = "C0FFEE00-1111-2222-3333-444455556666"
	testAPIKey     = "vR9sX2kQ7mT4wZ1pL8nB3cF6hJ0dG5aY"
)

func newClient(baseURL string, timeout time.Duration) *telesign.Client {
	return telesign.New(telesign.Config{BaseURL: baseURL, CustomerID: testCustomerID, APIKey: testAPIKey, Timeout: timeout})
}

func refID(n int) string { return fmt.Sprintf("%032X", 0xABC000+n) }

func TestConformance(t *testing.T) {
	t.Parallel()
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "telesign",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return newClient(baseURL, timeout)
		},
		Fake: func(t *testing.T) confirmtest.Fake {
			return telesigntest.NewServer(t, telesigntest.Options{CustomerID: testCustomerID, APIKey: testAPIKey})
		},
		MessageID: refID,
		Secrets:   []string{testAPIKey, testCustomerID},
		// Telesign answers a repeat with 1900 again.
		Repeat: confirm.Confirmed,
		// Telesign documents no Retry-After; the client reads one if it
		// comes (TestRetryAfterRead).
		NoRetryAfter: true,
	})
}

// TestClassifyCodes holds every documented code to its outcome, through
// the client and the fake's answer in Telesign's words.
func TestClassifyCodes(t *testing.T) {
	t.Parallel()
	want := map[int]confirm.Outcome{
		-10001: confirm.Permanent, -10004: confirm.Permanent, -30013: confirm.Permanent,
		-20002: confirm.Credentials, -30015: confirm.Credentials,
		-90001: confirm.Transient,
	}
	for c := -30012; c <= -30000; c++ {
		want[c] = confirm.Credentials
	}
	fake := telesigntest.NewServer(t, telesigntest.Options{CustomerID: testCustomerID, APIKey: testAPIKey})
	client := newClient(fake.URL(), 5*time.Second)
	codes := make([]int, 0, len(want))
	for c := range want {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for i, code := range codes {
		o, meaning, ok := telesign.ClassifyCode(code)
		if !ok || o != want[code] || meaning == "" {
			t.Errorf("ClassifyCode(%d) = %s %q %v, want %s", code, o, meaning, ok, want[code])
		}
		if _, answered := telesigntest.Errors[code]; !answered {
			continue // -30002 and -30003: in the documented range, without a published text
		}
		id := refID(0x100 + i)
		fake.Code(id, code)
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id})
		if err != nil || a.Outcome != want[code] || a.Status != fmt.Sprint(code) || a.Meaning != telesigntest.Errors[code].Description {
			t.Errorf("%d: %+v, %v; want %s", code, a, err, want[code])
		}
	}
	if o, _, ok := telesign.ClassifyCode(telesign.CodeCompleted); !ok || o != confirm.Confirmed {
		t.Errorf("1900: %s %v", o, ok)
	}
	if _, _, ok := telesign.ClassifyCode(-40006); ok {
		t.Error("-40006 is not documented for this call")
	}
}

// TestBodies: the verdict comes from the body's codes, errors first.
func TestBodies(t *testing.T) {
	t.Parallel()
	fake := telesigntest.NewServer(t, telesigntest.Options{})
	client := newClient(fake.URL(), 5*time.Second)
	for i, c := range []struct {
		name   string
		status int
		body   string
		want   confirm.Outcome
		code   string
	}{
		{"1900 written as a string", 200, `{"errors":[],"status":{"code":"1900","description":"Verify completion successfully recorded"}}`, confirm.Confirmed, "1900"},
		{"1900 beside an error", 200, `{"errors":[{"code":-10001,"description":"Invalid parameter passed"}],"status":{"code":1900,"description":"Verify completion successfully recorded"}}`, confirm.Permanent, "-10001"},
		{"not attempted", 200, `{"errors":[],"status":{"code":500,"description":"Transaction Not Attempted"}}`, confirm.Transient, "500"},
		{"credentials outweigh", 401, `{"errors":[{"code":-10001,"description":"x"},{"code":-30006,"description":"Invalid Signature"}],"status":{"code":501}}`, confirm.Credentials, "-30006"},
		{"undocumented error on 404", 404, `{"errors":[{"code":-12345,"description":"new thing"}]}`, confirm.Permanent, "-12345"},
		{"undocumented error on 200", 200, `{"errors":[{"code":-12345,"description":"new thing"}]}`, confirm.Transient, "-12345"},
		{"undocumented error on 401", 401, `{"errors":[{"code":-12345}]}`, confirm.Credentials, "-12345"},
		{"401 without a body", 401, ``, confirm.Credentials, "HTTP 401"},
		{"huge code is no code", 503, `{"errors":[{"code":123456789012345678901234567890}]}`, confirm.Transient, "HTTP 503"},
	} {
		id := refID(0x200 + i)
		fake.Raw(id, confirmtest.Raw{Status: c.status, ContentType: "application/json", Body: c.body})
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id})
		if err != nil || a.Outcome != c.want || a.Status != c.code || a.HTTPStatus != c.status {
			t.Errorf("%s: %+v, %v; want %s %s", c.name, a, err, c.want, c.code)
		}
	}
	// A 404 page that is not Telesign's JSON is not its "reference not found".
	id := refID(0x2FF)
	fake.Raw(id, confirmtest.Raw{Status: 404, ContentType: "text/html", Body: "<h1>Not Found</h1>"})
	if a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id}); err == nil || a.Outcome != confirm.Transient {
		t.Errorf("HTML 404: %+v, %v; want transient, unreadable", a, err)
	}
}

// TestRequest checks the wire format against a recorder of its own.
func TestRequest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got *http.Request
	var length int64 = -2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got, length = r, r.ContentLength
		mu.Unlock()
		_, _ = w.Write([]byte(`{"errors":[],"status":{"code":1900}}`))
	}))
	t.Cleanup(srv.Close)
	id := "567A4C809E30060091D27AE21FFF0EC5"
	a, err := newClient(srv.URL, 5*time.Second).Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
	if err != nil || a.Outcome != confirm.Confirmed {
		t.Fatalf("%+v, %v", a, err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testCustomerID+":"+testAPIKey))
	if got.Method != http.MethodPut || got.URL.Path != "/v1/verify/completion/"+id || got.URL.RawQuery != "" ||
		got.Header.Get("Authorization") != wantAuth || length != 0 {
		t.Errorf("%s %s, Authorization %q, Content-Length %d", got.Method, got.URL, got.Header.Get("Authorization"), length)
	}
}

// TestInvalidReferenceID: an id Telesign could never accept costs no call.
func TestInvalidReferenceID(t *testing.T) {
	t.Parallel()
	fake := telesigntest.NewServer(t, telesigntest.Options{})
	client := newClient(fake.URL(), time.Second)
	for _, id := range []string{"", "567A4C809E30060091D27AE21FFF0EC", "567A4C809E30060091D27AE21FFF0EC5A", "../../v1/messaging/567A4C809E3006", "567A4C809E30060091D27AE21FFF0ECZ"} {
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id})
		if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" {
			t.Errorf("%q: %+v, %v; want permanent, invalid message_id", id, a, err)
		}
		if n := fake.Calls(id); n != 0 {
			t.Errorf("%q: %d calls", id, n)
		}
	}
}

// TestWrongCredentials: the fake refuses them as Telesign does.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	fake := telesigntest.NewServer(t, telesigntest.Options{CustomerID: testCustomerID, APIKey: "another-api-key-000"})
	a, err := newClient(fake.URL(), 5*time.Second).Confirm(context.Background(), confirm.Conversion{MessageID: refID(0x300)})
	if err != nil || a.Outcome != confirm.Credentials || a.Status != "-30015" {
		t.Errorf("%+v, %v; want credentials -30015", a, err)
	}
}

// TestRetryAfterRead: a Retry-After Telesign (or its edge) sends is kept.
func TestRetryAfterRead(t *testing.T) {
	t.Parallel()
	fake := telesigntest.NewServer(t, telesigntest.Options{})
	id := refID(0x400)
	fake.Raw(id, confirmtest.Raw{Status: 429, Header: http.Header{"Retry-After": {"7"}}, ContentType: "application/json", Body: `{"errors":[],"status":{"description":"Too many requests"}}`})
	a, err := newClient(fake.URL(), 5*time.Second).Confirm(context.Background(), confirm.Conversion{MessageID: id})
	if err != nil || a.Outcome != confirm.Transient || a.RetryAfter != 7*time.Second || a.Meaning != "Too many requests" || a.Status != "HTTP 429" {
		t.Errorf("%+v, %v; want transient with RetryAfter 7s", a, err)
	}
}

// TestOverlapsSeen: the fake notes two calls in flight for one id. Both
// are held until the fake has seen them together, then cancelled.
func TestOverlapsSeen(t *testing.T) {
	t.Parallel()
	fake := telesigntest.NewServer(t, telesigntest.Options{})
	id := refID(0x500)
	fake.Raw(id, confirmtest.Raw{Delay: time.Minute})
	fake.Raw(id, confirmtest.Raw{Delay: time.Minute})
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
