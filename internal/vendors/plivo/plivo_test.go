package plivo_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/plivo"
	"relay/internal/vendors/plivo/plivotest"
)

const (
	authID    = "MAZDQ1ZJIYMDZKMMZKYM"
	authToken = "plivo-token-6b1f0c9e8d7a4f3e2d1c"
)

func fakeOpts() plivotest.Options { return plivotest.Options{AuthID: authID, AuthToken: authToken} }

func TestConformance(t *testing.T) {
	t.Parallel()
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "plivo",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return plivo.New(plivo.Config{BaseURL: baseURL, AuthID: authID, AuthToken: authToken, Timeout: timeout})
		},
		Fake:      func(t *testing.T) confirmtest.Fake { return plivotest.NewServer(t, fakeOpts()) },
		MessageID: plivotest.MessageUUID,
		Secrets:   []string{authToken, authID},
		// Plivo documents 429 and no Retry-After; the client reads one
		// where it comes (TestAnswers).
		NoRetryAfter: true,
	})
}

// TestClassify holds every status Plivo documents for its API, and the
// ones a proxy or Plivo's SDKs add.
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status int
		want   confirm.Outcome
	}{
		{400, confirm.Permanent},
		{401, confirm.Credentials},
		{403, confirm.Credentials},
		{404, confirm.Permanent},
		{405, confirm.Permanent},
		{408, confirm.Transient},
		{409, confirm.Permanent},
		{422, confirm.Permanent},
		{429, confirm.Transient},
		{500, confirm.Transient},
		{502, confirm.Transient},
		{503, confirm.Transient},
		{504, confirm.Transient},
		{302, confirm.Transient},
	} {
		if got := plivo.Classify(c.status); got != c.want {
			t.Errorf("Classify(%d) = %s, want %s", c.status, got, c.want)
		}
	}
}

func newClient(t *testing.T) (*plivo.Client, *plivotest.Fake) {
	t.Helper()
	fake := plivotest.NewServer(t, fakeOpts())
	t.Cleanup(func() {
		if p := fake.Problems(); len(p) > 0 {
			t.Errorf("requests off Plivo's documentation: %s", strings.Join(p, "; "))
		}
	})
	return plivo.New(plivo.Config{BaseURL: fake.URL(), AuthID: authID, AuthToken: authToken, Timeout: 5 * time.Second}), fake
}

// TestAnswers sends each documented status, and what else an answer can
// look like, through the client.
func TestAnswers(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t)
	type want struct {
		outcome    confirm.Outcome
		status     string
		meaning    string // a piece of it
		err        error
		retryAfter time.Duration
	}
	for i, c := range []struct {
		name  string
		setup func(id string)
		want  want
	}{
		{"success", func(string) {}, want{outcome: confirm.Confirmed, status: "HTTP 200", meaning: "successfully recorded."}},
		{"202", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 202, ContentType: "application/json", Body: `{"api_id":"x","message":"successfully recorded.","message_uuid":"` + id + `"}`})
		}, want{outcome: confirm.Confirmed, status: "HTTP 202"}},
		{"400", func(id string) { fake.Error(id, 400, "invalid timestamp") }, want{outcome: confirm.Permanent, status: "HTTP 400", meaning: "invalid timestamp"}},
		{"401", func(id string) { fake.Error(id, 401, "Authentication failed") }, want{outcome: confirm.Credentials, status: "HTTP 401", meaning: "Authentication failed"}},
		{"403", func(id string) { fake.Error(id, 403, "forbidden") }, want{outcome: confirm.Credentials, status: "HTTP 403"}},
		{"404", func(id string) { fake.Error(id, 404, "message not found") }, want{outcome: confirm.Permanent, status: "HTTP 404", meaning: "not found"}},
		{"{} 404, as Plivo's Go SDK expects", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 404, ContentType: "application/json", Body: "{}"})
		},
			want{outcome: confirm.Permanent, status: "HTTP 404", meaning: "Resource cannot be found"}},
		{"405", func(id string) { fake.Error(id, 405, "") }, want{outcome: confirm.Permanent, status: "HTTP 405", meaning: "method not allowed"}},
		{"field errors", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 400, ContentType: "application/json", Body: `{"api_id":"x","error":{"timestamp":["must be RFC 3339"]}}`})
		}, want{outcome: confirm.Permanent, status: "HTTP 400", meaning: "must be RFC 3339"}},
		{"429 with Retry-After", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 429, ContentType: "application/json", Header: http.Header{"Retry-After": {"7"}}, Body: `{"api_id":"x","error":"Too many requests"}`})
		}, want{outcome: confirm.Transient, status: "HTTP 429", retryAfter: 7 * time.Second}},
		{"500", func(id string) { fake.Error(id, 500, "Server error") }, want{outcome: confirm.Transient, status: "HTTP 500"}},
		{"HTML 401, as Plivo's SDKs allow for", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 401, ContentType: "text/html", Body: "Could not verify your access level for that URL."})
		}, want{outcome: confirm.Credentials, status: "HTTP 401", meaning: "Could not verify"}},
		{"HTML 404 from a proxy gives up nothing", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 404, ContentType: "text/html", Body: "<html>Not Found</html>"})
		}, want{outcome: confirm.Transient, status: "HTTP 404", err: confirm.ErrUnreadable}},
		{"empty 400 gives up nothing", func(id string) { fake.Raw(id, confirmtest.Raw{Status: 400}) },
			want{outcome: confirm.Transient, status: "HTTP 400", err: confirm.ErrUnreadable}},
		{"200 JSON that is not Plivo's", func(id string) {
			fake.Raw(id, confirmtest.Raw{ContentType: "application/json", Body: `{"status":"ok"}`})
		}, want{outcome: confirm.Transient, status: "HTTP 200", err: confirm.ErrUnreadable}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cv := confirm.Conversion{MessageID: plivotest.MessageUUID(1000 + i), At: time.Now()}
			c.setup(cv.MessageID)
			a, err := client.Confirm(context.Background(), cv)
			if a.Outcome != c.want.outcome || a.Status != c.want.status {
				t.Errorf("%s %q (%+v, %v), want %s %q", a.Outcome, a.Status, a, err, c.want.outcome, c.want.status)
			}
			if !strings.Contains(a.Meaning, c.want.meaning) {
				t.Errorf("Meaning %q, want it to hold %q", a.Meaning, c.want.meaning)
			}
			if (c.want.err == nil) != (err == nil) || (c.want.err != nil && !errors.Is(err, c.want.err)) {
				t.Errorf("error %v, want %v", err, c.want.err)
			}
			if a.RetryAfter != c.want.retryAfter {
				t.Errorf("RetryAfter %s, want %s", a.RetryAfter, c.want.retryAfter)
			}
			if n := fake.Calls(cv.MessageID); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

// TestTimestamp: the conversion time is sent as it happened, in UTC to the
// second, whatever its zone; a zero one becomes the client's now.
func TestTimestamp(t *testing.T) {
	t.Parallel()
	fake := plivotest.NewServer(t, fakeOpts())
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	client := plivo.New(plivo.Config{BaseURL: fake.URL(), AuthID: authID, AuthToken: authToken, Now: func() time.Time { return now }})
	for i, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2020, 8, 1, 11, 32, 26, 0, time.UTC), "2020-08-01T11:32:26Z"},
		{time.Date(2020, 8, 1, 19, 32, 26, 999_000_000, time.FixedZone("CST", 8*3600)), "2020-08-01T11:32:26Z"},
		{time.Time{}, "2026-12-06T12:00:00Z"},
	} {
		id := plivotest.MessageUUID(i)
		if a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: c.at}); err != nil || a.Outcome != confirm.Confirmed {
			t.Fatalf("%+v, %v", a, err)
		}
		if got := fake.Timestamps(id); len(got) != 1 || got[0] != c.want {
			t.Errorf("At %s sent as %v, want %s", c.at, got, c.want)
		}
	}
	if p := fake.Problems(); len(p) > 0 {
		t.Errorf("problems: %v", p)
	}
}

// TestIDsStayOneSegment: an id with a slash or a query cannot reach
// another resource; an empty one is refused without a call.
func TestIDsStayOneSegment(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t)
	for _, id := range []string{"../../Call/x", "a/b", "x?y=1", "a#b", "é"} {
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
		if err != nil || a.Outcome != confirm.Confirmed {
			t.Errorf("%q: %+v, %v", id, a, err)
		}
		if n := fake.Calls(id); n != 1 {
			t.Errorf("%q: %d calls under that id, want 1", id, n)
		}
	}
	a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: "", At: time.Now()})
	if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" || fake.Calls("") != 0 {
		t.Errorf("empty id: %+v, %v, %d calls", a, err, fake.Calls(""))
	}
	if got, want := plivo.Path("MA1", "a/b"), "/v1/account/MA1/message/a%2Fb/conversion/"; got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

// TestNoAuthIDPauses: without an AuthID no call can succeed.
func TestNoAuthIDPauses(t *testing.T) {
	t.Parallel()
	fake := plivotest.NewServer(t, fakeOpts())
	id := plivotest.MessageUUID(1)
	a, err := plivo.New(plivo.Config{BaseURL: fake.URL(), AuthToken: authToken}).Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
	if err != nil || a.Outcome != confirm.Credentials || fake.Calls(id) != 0 {
		t.Errorf("%+v, %v, %d calls; want credentials without a call", a, err, fake.Calls(id))
	}
}

// TestWrongToken: Plivo's refusal is credentials, and the token is in no
// text of the answer.
func TestWrongToken(t *testing.T) {
	t.Parallel()
	fake := plivotest.NewServer(t, fakeOpts())
	a, err := plivo.New(plivo.Config{BaseURL: fake.URL(), AuthID: authID, AuthToken: "wrong-token-123456"}).
		Confirm(context.Background(), confirm.Conversion{MessageID: plivotest.MessageUUID(5), At: time.Now()})
	if err != nil || a.Outcome != confirm.Credentials || a.HTTPStatus != 401 {
		t.Errorf("%+v, %v; want credentials", a, err)
	}
	if strings.Contains(a.Meaning, "wrong-token") {
		t.Errorf("Meaning %q holds the token", a.Meaning)
	}
}

// TestCallersClientFollowsNoRedirect: a caller's http.Client is copied
// with redirects off, and the caller's own is left as it was.
func TestCallersClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	followed := make(chan struct{}, 1)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed <- struct{}{} }))
	defer elsewhere.Close()
	fake := plivotest.NewServer(t, fakeOpts())
	id := plivotest.MessageUUID(3)
	fake.Raw(id, confirmtest.Raw{Status: 308, Header: http.Header{"Location": {elsewhere.URL}}})
	mine := &http.Client{}
	a, err := plivo.New(plivo.Config{BaseURL: fake.URL(), AuthID: authID, AuthToken: authToken, HTTPClient: mine}).
		Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
	if !errors.Is(err, confirm.ErrUnreadable) || a.Outcome != confirm.Transient || a.HTTPStatus != 308 {
		t.Errorf("%+v, %v; want a transient unreadable 308", a, err)
	}
	select {
	case <-followed:
		t.Error("the redirect was followed")
	default:
	}
	if mine.CheckRedirect != nil {
		t.Error("the caller's http.Client was changed")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := (plivo.Config{AuthID: authID, AuthToken: authToken}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for name, cfg := range map[string]plivo.Config{
		"no AuthID":        {AuthToken: authToken},
		"no AuthToken":     {AuthID: authID},
		"URL with a path":  {BaseURL: "https://api.plivo.com/v1/", AuthID: authID, AuthToken: authToken},
		"not http":         {BaseURL: "ftp://api.plivo.com", AuthID: authID, AuthToken: authToken},
		"negative timeout": {AuthID: authID, AuthToken: authToken, Timeout: -time.Second},
	} {
		err := cfg.Validate()
		if !errors.Is(err, plivo.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		} else if strings.Contains(err.Error(), authToken) {
			t.Errorf("%s: the error holds the token: %v", name, err)
		}
	}
}

// TestFakeSeesOverlaps: the fake notices a second call for a message_uuid
// while the first is still in flight (relay's claim must prevent it).
func TestFakeSeesOverlaps(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t)
	cv := confirm.Conversion{MessageID: plivotest.MessageUUID(11), At: time.Now()}
	fake.Raw(cv.MessageID, confirmtest.Raw{Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = client.Confirm(ctx, cv)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for fake.Calls(cv.MessageID) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the fake, not waiting for an effect
	}
	if a, err := client.Confirm(context.Background(), cv); err != nil || a.Outcome != confirm.Confirmed {
		t.Errorf("second call: %+v, %v", a, err)
	}
	cancel()
	<-done
	if got := fake.Overlaps()[cv.MessageID]; got != 2 {
		t.Errorf("overlaps %v, want 2 calls seen together", fake.Overlaps())
	}
}
