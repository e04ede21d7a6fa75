package twilio_test

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
	"relay/internal/vendors/twilio"
	"relay/internal/vendors/twilio/twiliotest"
)

const (
	accountSID   = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90"
	authToken    = "tw-auth-token-9f8e7d6c5b4a39281706"
	apiKeySID    = "SK0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	apiKeySecret = "tw-key-secret-1a2b3c4d5e6f7a8b9c0d"
)

func fakeOpts() twiliotest.Options {
	return twiliotest.Options{AccountSID: accountSID, AuthToken: authToken, APIKeySID: apiKeySID, APIKeySecret: apiKeySecret}
}

// TestConformance runs the suite with each way Twilio authenticates.
func TestConformance(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]twilio.Config{
		"auth token": {AccountSID: accountSID, AuthToken: authToken},
		"api key":    {AccountSID: accountSID, APIKeySID: apiKeySID, APIKeySecret: apiKeySecret},
	} {
		// The credentials this client is given: it can keep only those
		// out of its answers.
		var secrets []string
		for _, s := range []string{cfg.AuthToken, cfg.APIKeySecret, cfg.AccountSID, cfg.APIKeySID} {
			if s != "" {
				secrets = append(secrets, s)
			}
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			confirmtest.Run(t, confirmtest.Vendor{
				Name: "twilio",
				New: func(baseURL string, timeout time.Duration) confirmtest.Client {
					c := cfg
					c.BaseURL, c.Timeout = baseURL, timeout
					return twilio.New(c)
				},
				Fake:      func(t *testing.T) confirmtest.Fake { return twiliotest.NewServer(t, fakeOpts()) },
				MessageID: twiliotest.MessageSID,
				Secrets:   secrets,
			})
		})
	}
}

// TestClassify holds every code Twilio documents for the call, and the
// statuses an undocumented code falls back on.
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status, code int
		want         confirm.Outcome
	}{
		{401, twilio.CodeAuthenticate, confirm.Credentials},
		{403, twilio.CodeForbidden, confirm.Credentials},
		{404, twilio.CodeNotFound, confirm.Permanent},
		{429, twilio.CodeTooManyRequests, confirm.Transient},
		{500, twilio.CodeInternalServerError, confirm.Transient},
		{503, twilio.CodeServiceUnavailable, confirm.Transient},
		// The code decides where it is documented, whatever the status.
		{400, twilio.CodeNotFound, confirm.Permanent},
		{200, twilio.CodeTooManyRequests, confirm.Transient},
		// An undocumented code: its status decides.
		{400, 21211, confirm.Permanent},
		{401, 0, confirm.Credentials},
		{403, 0, confirm.Credentials},
		{404, 0, confirm.Permanent},
		{405, 0, confirm.Permanent},
		{408, 0, confirm.Transient},
		{409, 0, confirm.Permanent},
		{429, 0, confirm.Transient},
		{500, 0, confirm.Transient},
		{502, 0, confirm.Transient},
		{504, 0, confirm.Transient},
		{302, 0, confirm.Transient},
	} {
		if got := twilio.Classify(c.status, c.code); got != c.want {
			t.Errorf("Classify(%d, %d) = %s, want %s", c.status, c.code, got, c.want)
		}
	}
}

func newClient(t *testing.T, opts twiliotest.Options) (*twilio.Client, *twiliotest.Fake) {
	t.Helper()
	fake := twiliotest.NewServer(t, opts)
	t.Cleanup(func() {
		if p := fake.Problems(); len(p) > 0 {
			t.Errorf("requests off Twilio's documentation: %s", strings.Join(p, "; "))
		}
	})
	return twilio.New(twilio.Config{BaseURL: fake.URL(), AccountSID: accountSID, AuthToken: authToken, Timeout: 5 * time.Second}), fake
}

func conv(n int) confirm.Conversion {
	return confirm.Conversion{MessageID: twiliotest.MessageSID(n), At: time.Now()}
}

// TestAnswers sends every documented answer, and what else a Twilio error
// can look like, through the client.
func TestAnswers(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t, fakeOpts())
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
		{"20003", func(id string) { fake.Error(id, 401, 20003, "Authenticate") }, want{outcome: confirm.Credentials, status: "20003", meaning: "Permission Denied"}},
		{"20403", func(id string) { fake.Error(id, 403, 20403, "403 Forbidden") }, want{outcome: confirm.Credentials, status: "20403", meaning: "suspended"}},
		{"20404", func(id string) { fake.Error(id, 404, 20404, "The requested resource was not found") }, want{outcome: confirm.Permanent, status: "20404", meaning: "ProvideFeedback"}},
		{"20429", func(id string) { fake.Answer(id, confirmtest.Throttled) }, want{outcome: confirm.Transient, status: "20429", retryAfter: 7 * time.Second}},
		{"20500", func(id string) { fake.Error(id, 500, 20500, "Internal Server Error") }, want{outcome: confirm.Transient, status: "20500"}},
		{"20503", func(id string) { fake.Error(id, 503, 20503, "Service unavailable") }, want{outcome: confirm.Transient, status: "20503"}},
		{"undocumented 400 code keeps Twilio's message", func(id string) { fake.Error(id, 400, 21211, "Invalid 'To' Phone Number") },
			want{outcome: confirm.Permanent, status: "21211", meaning: "Invalid 'To' Phone Number"}},
		{"JSON error without a code", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 404, ContentType: "application/json", Body: `{"status":404,"message":"gone"}`})
		}, want{outcome: confirm.Permanent, status: "HTTP 404", meaning: "gone"}},
		{"HTML 404 from a proxy gives up nothing", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 404, ContentType: "text/html", Body: "<html>Not Found</html>"})
		}, want{outcome: confirm.Transient, status: "HTTP 404", err: confirm.ErrUnreadable}},
		{"plain 401 pauses", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 401, ContentType: "text/plain", Body: "Unauthorized"})
		},
			want{outcome: confirm.Credentials, status: "HTTP 401"}},
		{"429 with an HTTP date", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 429, Header: http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}})
		}, want{outcome: confirm.Transient, status: "HTTP 429"}},
		{"success with another outcome", func(id string) {
			fake.Raw(id, confirmtest.Raw{ContentType: "application/json", Body: `{"message_sid":"` + id + `","outcome":"unconfirmed"}`})
		}, want{outcome: confirm.Transient, status: "HTTP 200", err: confirm.ErrUnreadable}},
		{"201, as older descriptions said", func(id string) {
			fake.Raw(id, confirmtest.Raw{Status: 201, ContentType: "application/json", Body: `{"message_sid":"` + id + `","outcome":"confirmed"}`})
		}, want{outcome: confirm.Confirmed, status: "HTTP 201"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cv := conv(1000 + i)
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
			if c.want.retryAfter != 0 && a.RetryAfter != c.want.retryAfter {
				t.Errorf("RetryAfter %s, want %s", a.RetryAfter, c.want.retryAfter)
			}
			if c.name == "429 with an HTTP date" && (a.RetryAfter < 59*time.Minute || a.RetryAfter > time.Hour) {
				t.Errorf("RetryAfter %s, want about an hour", a.RetryAfter)
			}
			if n := fake.Calls(cv.MessageID); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

// TestMalformedIDsMakeNoCall: a MessageSid off Twilio's pattern could never
// be accepted, and one with a slash would change the path.
func TestMalformedIDsMakeNoCall(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t, fakeOpts())
	for _, id := range []string{"", "SM123", "sm" + strings.Repeat("a", 32), "SM" + strings.Repeat("g", 32),
		"SM" + strings.Repeat("a", 31) + "/", "SM" + strings.Repeat("a", 33), "MG" + strings.Repeat("a", 32), "../../Calls"} {
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
		if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" || a.HTTPStatus != 0 {
			t.Errorf("%q: %+v, %v; want permanent, invalid message_id, no call", id, a, err)
		}
		if n := fake.Calls(id); n != 0 {
			t.Errorf("%q: %d calls", id, n)
		}
	}
	if a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: "MM" + strings.Repeat("A", 32)}); err != nil || a.Outcome != confirm.Confirmed {
		t.Errorf("an MMS sid in capitals: %+v, %v", a, err)
	}
}

// TestMalformedAccountPauses: an AccountSID off the pattern fails every
// call alike; it pauses the vendor without calling.
func TestMalformedAccountPauses(t *testing.T) {
	t.Parallel()
	fake := twiliotest.NewServer(t, fakeOpts())
	client := twilio.New(twilio.Config{BaseURL: fake.URL(), AccountSID: "AC-not-a-sid/../x", AuthToken: authToken})
	cv := conv(1)
	a, err := client.Confirm(context.Background(), cv)
	if err != nil || a.Outcome != confirm.Credentials || a.Status != "invalid account_sid" {
		t.Errorf("%+v, %v; want credentials, invalid account_sid", a, err)
	}
	if n := fake.Calls(cv.MessageID); n != 0 {
		t.Errorf("%d calls, want none", n)
	}
}

// TestWrongCredentials: Twilio's own refusal is read as credentials, and
// neither secret is in the answer.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	fake := twiliotest.NewServer(t, fakeOpts())
	for _, cfg := range []twilio.Config{
		{AccountSID: accountSID, AuthToken: "wrong-token-123456"},
		{AccountSID: accountSID, APIKeySID: apiKeySID, APIKeySecret: "wrong-secret-123456"},
	} {
		cfg.BaseURL = fake.URL()
		a, err := twilio.New(cfg).Confirm(context.Background(), conv(7))
		if err != nil || a.Outcome != confirm.Credentials || a.Status != "20003" || a.HTTPStatus != 401 {
			t.Errorf("%+v, %v; want credentials 20003", a, err)
		}
		if strings.Contains(a.Meaning, "wrong-") {
			t.Errorf("Meaning %q holds the secret", a.Meaning)
		}
	}
	if p := fake.Problems(); len(p) > 0 {
		t.Errorf("problems: %v", p)
	}
}

// TestCallersClientFollowsNoRedirect: a caller's http.Client is copied
// with redirects off, and the caller's own is left as it was.
func TestCallersClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	followed := make(chan struct{}, 1)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed <- struct{}{} }))
	defer elsewhere.Close()
	fake := twiliotest.NewServer(t, fakeOpts())
	cv := conv(3)
	fake.Raw(cv.MessageID, confirmtest.Raw{Status: 307, Header: http.Header{"Location": {elsewhere.URL}}})
	mine := &http.Client{}
	a, err := twilio.New(twilio.Config{BaseURL: fake.URL(), AccountSID: accountSID, AuthToken: authToken, HTTPClient: mine}).Confirm(context.Background(), cv)
	if !errors.Is(err, confirm.ErrUnreadable) || a.Outcome != confirm.Transient || a.HTTPStatus != 307 {
		t.Errorf("%+v, %v; want a transient unreadable 307", a, err)
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

// TestCancelled: a cancelled call is a transport failure, transient.
func TestCancelled(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t, fakeOpts())
	cv := conv(9)
	fake.Raw(cv.MessageID, confirmtest.Raw{Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var a confirm.Answer
	var err error
	go func() {
		defer close(done)
		a, err = client.Confirm(ctx, cv)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for fake.Calls(cv.MessageID) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the fake, not waiting for an effect
	}
	cancel()
	<-done
	if !errors.Is(err, confirm.ErrTransport) || a.Outcome != confirm.Transient {
		t.Errorf("%+v, %v; want a transient transport error", a, err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := twilio.Config{AccountSID: accountSID, AuthToken: authToken}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if err := (twilio.Config{AccountSID: accountSID, APIKeySID: apiKeySID, APIKeySecret: apiKeySecret}).Validate(); err != nil {
		t.Errorf("valid API key config: %v", err)
	}
	for name, cfg := range map[string]twilio.Config{
		"no AccountSID":        {AuthToken: authToken},
		"malformed AccountSID": {AccountSID: "AC123", AuthToken: authToken},
		"no password":          {AccountSID: accountSID},
		"key without secret":   {AccountSID: accountSID, APIKeySID: apiKeySID},
		"secret without key":   {AccountSID: accountSID, AuthToken: authToken, APIKeySecret: apiKeySecret},
		"malformed key":        {AccountSID: accountSID, APIKeySID: "SK1", APIKeySecret: apiKeySecret},
		"URL with a path":      {BaseURL: "https://api.twilio.com/2010-04-01", AccountSID: accountSID, AuthToken: authToken},
		"negative timeout":     {AccountSID: accountSID, AuthToken: authToken, Timeout: -time.Second},
	} {
		err := cfg.Validate()
		if !errors.Is(err, twilio.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
			continue
		}
		for _, s := range []string{authToken, apiKeySecret} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error holds a secret: %v", name, err)
			}
		}
	}
}

// TestFakeSeesOverlaps: the fake notices a second call for a MessageSid
// while the first is still in flight (relay's claim must prevent it).
func TestFakeSeesOverlaps(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t, fakeOpts())
	cv := conv(11)
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
	if other := fake.Overlaps()[twiliotest.MessageSID(12)]; other != 0 {
		t.Errorf("an id never called overlaps: %d", other)
	}
}
