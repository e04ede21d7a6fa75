package aws_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"relay/internal/vendors/aws"
	"relay/internal/vendors/aws/awstest"
	"relay/internal/vendors/confirm"
	"relay/internal/vendors/confirm/confirmtest"
)

// static is a credentials provider of the fake's example key pair; no
// test reaches the SDK's default chain, nor AWS.
func static(id, secret, token string) awssdk.CredentialsProvider {
	return awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
		return awssdk.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "test"}, nil
	})
}

func newClient(t testing.TB, cfg aws.Config) *aws.Client {
	t.Helper()
	if cfg.Region == "" {
		cfg.Region = awstest.Region
	}
	if cfg.Credentials == nil {
		cfg.Credentials = static(awstest.AccessKeyID, awstest.SecretAccessKey, "")
	}
	c, err := aws.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func conv(id string) confirm.Conversion {
	return confirm.Conversion{MessageID: id, At: time.Now().Add(-time.Minute)}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "aws",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return newClient(t, aws.Config{Endpoint: baseURL, Timeout: timeout})
		},
		Fake:      func(t *testing.T) confirmtest.Fake { return awstest.New(t, awstest.Options{}) },
		MessageID: func(n int) string { return fmt.Sprintf("msg-%02d:a1b2c3d4/e5f6_%d", n, n) },
		Secrets:   []string{awstest.AccessKeyID, awstest.SecretAccessKey},
		// AWS tells no repeat apart, and documents no Retry-After: a
		// ThrottlingException says nothing of when to come back.
		Repeat:       confirm.Confirmed,
		NoRetryAfter: true,
	})
}

// TestExceptions: every documented exception, named as the SDK reads it
// from the body's __type or the X-Amzn-ErrorType header, becomes its
// outcome, with the exception's name as Status.
func TestExceptions(t *testing.T) {
	t.Parallel()
	fake := awstest.New(t, awstest.Options{})
	c := newClient(t, aws.Config{Endpoint: fake.URL()})
	cases := []struct {
		exc     awstest.Exception
		want    confirm.Outcome
		meaning string
	}{
		{awstest.Validation, confirm.Permanent, "FIELD_VALIDATION_FAILED: A validation exception for a field."},
		{awstest.ResourceNotFound, confirm.Permanent, "message: A requested resource couldn't be found."},
		{awstest.Throttling, confirm.Transient, awstest.Throttling.Message},
		{awstest.InternalServer, confirm.Transient, awstest.InternalServer.Message},
		{awstest.AccessDenied, confirm.Credentials, "ACCOUNT_DISABLED: " + awstest.AccessDenied.Message},
		{awstest.UnrecognizedClient, confirm.Credentials, awstest.UnrecognizedClient.Message},
		{awstest.InvalidSignature, confirm.Credentials, awstest.InvalidSignature.Message},
		{awstest.ExpiredToken, confirm.Credentials, awstest.ExpiredToken.Message},
		{awstest.Exception{Name: "IncompleteSignatureException", Status: 400}, confirm.Credentials, "the request signature does not conform to AWS standards"},
		{awstest.Exception{Name: "MissingAuthenticationTokenException", Status: 403}, confirm.Credentials, "the request must contain a valid access key ID"},
		{awstest.Exception{Name: "ServiceUnavailable", Status: 503}, confirm.Transient, "the request failed due to a temporary failure of the server"},
		// Not documented for this call: retried, with its name kept.
		{awstest.Exception{Name: "ConflictException", Status: 400, Message: "odd"}, confirm.Transient, "odd"},
	}
	n := 0
	for _, tc := range cases {
		for _, inHeader := range []bool{false, true} {
			n++
			id := fmt.Sprintf("exc-%d", n)
			exc := tc.exc
			exc.InHeader = inHeader
			fake.Exception(id, exc)
			a, err := c.Confirm(context.Background(), conv(id))
			if err != nil || a.Outcome != tc.want || a.Status != tc.exc.Name || a.Meaning != tc.meaning {
				t.Errorf("%s (in header %v): %+v, %v; want %s, Status %q, Meaning %q", tc.exc.Name, inHeader, a, err, tc.want, tc.exc.Name, tc.meaning)
			}
			wantStatus := tc.exc.Status
			if wantStatus == 0 {
				wantStatus = 400
			}
			if a.HTTPStatus != wantStatus {
				t.Errorf("%s: HTTPStatus %d, want %d", tc.exc.Name, a.HTTPStatus, wantStatus)
			}
			if got := fake.Calls(id); got != 1 {
				t.Errorf("%s: %d calls, want 1", tc.exc.Name, got)
			}
		}
	}
	if p := fake.Problems(); len(p) > 0 {
		t.Errorf("requests off the documentation: %v", p)
	}
}

// TestClassify holds the table itself, for codes the fake need not send.
func TestClassify(t *testing.T) {
	t.Parallel()
	want := map[string]confirm.Outcome{
		"ValidationException": confirm.Permanent, "ResourceNotFoundException": confirm.Permanent,
		"ThrottlingException": confirm.Transient, "InternalServerException": confirm.Transient,
		"AccessDeniedException": confirm.Credentials, "UnrecognizedClientException": confirm.Credentials,
		"InvalidSignatureException": confirm.Credentials, "ExpiredTokenException": confirm.Credentials,
		"IncompleteSignature": confirm.Credentials, "InvalidClientTokenId": confirm.Credentials,
		"MissingAuthenticationToken": confirm.Credentials, "NotAuthorized": confirm.Credentials,
		"OptInRequired": confirm.Credentials, "InternalFailure": confirm.Transient, "ServiceUnavailable": confirm.Transient,
		"SomethingNew": confirm.Transient, "": confirm.Transient,
	}
	for code, o := range want {
		if got := aws.Classify(code); got != o {
			t.Errorf("Classify(%q) = %s, want %s", code, got, o)
		}
		if o != confirm.Transient && aws.Meaning(code) == "" {
			t.Errorf("%s has no meaning", code)
		}
	}
}

// TestSDKRetriesNothing: the SDK's retryer would retry each of these
// (throttling and 5xx by code and status, a reset by its error) up to
// three times; relay's policy is the only one, so AWS sees one call.
func TestSDKRetriesNothing(t *testing.T) {
	t.Parallel()
	fake := awstest.New(t, awstest.Options{})
	c := newClient(t, aws.Config{Endpoint: fake.URL()})
	for i, exc := range []awstest.Exception{awstest.Throttling, awstest.InternalServer,
		{Name: "ServiceUnavailable", Status: 503}, {Name: "ThrottlingException", Status: 429, InHeader: true}} {
		id := fmt.Sprintf("retry-%d", i)
		// A second answer queued: a retry would find it and confirm.
		fake.Exception(id, exc)
		fake.Answer(id, confirmtest.Success)
		a, _ := c.Confirm(context.Background(), conv(id))
		if n := fake.Calls(id); n != 1 || a.Outcome != confirm.Transient {
			t.Errorf("%s %d: %d calls, outcome %s; want 1 call, transient", exc.Name, exc.Status, n, a.Outcome)
		}
	}

	var conns atomic.Int32
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		hj, _ := w.(http.Hijacker)
		if conn, _, err := hj.Hijack(); err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	t.Cleanup(reset.Close)
	c = newClient(t, aws.Config{Endpoint: reset.URL})
	a, err := c.Confirm(context.Background(), conv("reset-1"))
	if !errors.Is(err, confirm.ErrTransport) || a.Outcome != confirm.Transient {
		t.Errorf("reset: %+v, %v; want a transport error", a, err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("reset: %d requests, want 1", n)
	}
}

// TestMalformedMessageIDIsNotSent: an id AWS could never accept is
// Permanent without a call.
func TestMalformedMessageIDIsNotSent(t *testing.T) {
	t.Parallel()
	fake := awstest.New(t, awstest.Options{})
	c := newClient(t, aws.Config{Endpoint: fake.URL()})
	for _, id := range []string{"", strings.Repeat("a", 65), "has space", "a\x00b", "ünï", "a?b=c", "a.b"} {
		a, err := c.Confirm(context.Background(), conv(id))
		if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" {
			t.Errorf("%q: %+v, %v; want permanent, invalid message_id", id, a, err)
		}
		if n := fake.Calls(id); n != 0 {
			t.Errorf("%q: %d calls, want none", id, n)
		}
	}
	if a, err := c.Confirm(context.Background(), conv(strings.Repeat("Z", 64))); err != nil || a.Outcome != confirm.Confirmed {
		t.Errorf("64 characters: %+v, %v; want confirmed", a, err)
	}
}

// TestWrongSecretIsRefusedAsAWSDoes: the fake recomputes the signature;
// a wrong secret is InvalidSignatureException, an unknown key
// UnrecognizedClientException, both Credentials.
func TestWrongSecretIsRefusedAsAWSDoes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, secret, status string
	}{
		{awstest.AccessKeyID, "not-the-secret-key-at-all-0000000000000", "InvalidSignatureException"},
		{"AKIAUNKNOWNKEY000000", awstest.SecretAccessKey, "UnrecognizedClientException"},
	} {
		fake := awstest.New(t, awstest.Options{})
		c := newClient(t, aws.Config{Endpoint: fake.URL(), Credentials: static(tc.id, tc.secret, "")})
		a, err := c.Confirm(context.Background(), conv("m-1"))
		if err != nil || a.Outcome != confirm.Credentials || a.Status != tc.status {
			t.Errorf("%s: %+v, %v; want credentials, %s", tc.status, a, err, tc.status)
		}
		if p := fake.Problems(); len(p) != 1 || !strings.HasPrefix(p[0], "SigV4: ") {
			t.Errorf("%s: fake's problems %q, want the signature's", tc.status, p)
		}
	}
}

// TestSessionTokenIsSentAndSigned: temporary credentials (a role, web
// identity) carry X-Amz-Security-Token; the fake requires it, signed.
func TestSessionTokenIsSentAndSigned(t *testing.T) {
	t.Parallel()
	const token = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN//////////wEaDEXAMPLE"
	fake := awstest.New(t, awstest.Options{SessionToken: token})
	c := newClient(t, aws.Config{Endpoint: fake.URL(), Credentials: static(awstest.AccessKeyID, awstest.SecretAccessKey, token)})
	if a, err := c.Confirm(context.Background(), conv("m-1")); err != nil || a.Outcome != confirm.Confirmed {
		t.Errorf("%+v, %v; want confirmed", a, err)
	}
	if p := fake.Problems(); len(p) > 0 {
		t.Errorf("problems: %v", p)
	}
}

// TestNoCredentialsPausesTheVendor: a chain with nothing to give makes no
// call and is Credentials, whose pause costs the event no attempt.
func TestNoCredentialsPausesTheVendor(t *testing.T) {
	t.Parallel()
	fake := awstest.New(t, awstest.Options{})
	none := awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
		return awssdk.Credentials{}, errors.New("no EC2 IMDS role found")
	})
	c := newClient(t, aws.Config{Endpoint: fake.URL(), Credentials: none})
	a, err := c.Confirm(context.Background(), conv("m-1"))
	if err != nil || a.Outcome != confirm.Credentials || a.Status != "credentials unavailable" || !strings.Contains(a.Meaning, "IMDS") {
		t.Errorf("%+v, %v; want credentials unavailable", a, err)
	}
	if n := fake.Calls("m-1"); n != 0 {
		t.Errorf("%d calls, want none", n)
	}
}

// TestFeedbackAlreadyFailed: AWS answers the message's current status; a
// record already FAILED (the hour passed) did not take our RECEIVED.
func TestFeedbackAlreadyFailed(t *testing.T) {
	t.Parallel()
	fake := awstest.New(t, awstest.Options{})
	c := newClient(t, aws.Config{Endpoint: fake.URL()})
	fake.Raw("m-1", confirmtest.Raw{ContentType: awstest.ContentType, Body: `{"MessageId":"m-1","MessageFeedbackStatus":"FAILED"}`})
	if a, err := c.Confirm(context.Background(), conv("m-1")); err != nil || a.Outcome != confirm.Permanent || a.Status != "FAILED" {
		t.Errorf("FAILED: %+v, %v; want permanent", a, err)
	}
	// A 200 that is JSON but not the answer is no verdict.
	fake.Raw("m-2", confirmtest.Raw{ContentType: awstest.ContentType, Body: `{"status":"ok"}`})
	if a, err := c.Confirm(context.Background(), conv("m-2")); !errors.Is(err, confirm.ErrUnreadable) || a.Outcome != confirm.Transient || a.HTTPStatus != 200 {
		t.Errorf("other JSON: %+v, %v; want unreadable", a, err)
	}
}

// TestCallersClientIsBoundedToo: a caller's http.Client is copied with no
// redirect followed and bodies bounded.
func TestCallersClientIsBoundedToo(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	fake := awstest.New(t, awstest.Options{})
	given := &http.Client{}
	c := newClient(t, aws.Config{Endpoint: fake.URL(), HTTPClient: given})
	fake.Raw("m-1", confirmtest.Raw{Status: 307, Header: http.Header{"Location": {target.URL + "/"}}})
	if a, err := c.Confirm(context.Background(), conv("m-1")); !errors.Is(err, confirm.ErrUnreadable) || a.HTTPStatus != 307 {
		t.Errorf("redirect: %+v, %v; want the 307 unreadable", a, err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests", n)
	}
	fake.Raw("m-2", confirmtest.Raw{ContentType: awstest.ContentType, Body: `{"MessageId":"m-2","MessageFeedbackStatus":"RECEIVED"}`, Pad: 1 << 20})
	if _, err := c.Confirm(context.Background(), conv("m-2")); !errors.Is(err, confirm.ErrTooLarge) {
		t.Errorf("1 MiB: %v, want ErrTooLarge", err)
	}
	if given.CheckRedirect != nil || given.Transport != nil {
		t.Errorf("the caller's client was changed")
	}
}

// TestHostileAnswers: what a proxy or a hostile endpoint sends ends as a
// status, an unreadable answer, or a cleaned exception, never as a
// verdict it does not hold, and never with our secret in it.
func TestHostileAnswers(t *testing.T) {
	t.Parallel()
	fake := awstest.New(t, awstest.Options{})
	c := newClient(t, aws.Config{Endpoint: fake.URL(), Timeout: time.Second})
	cases := []struct {
		name    string
		raw     *confirmtest.Raw
		exc     *awstest.Exception
		outcome confirm.Outcome
		status  string
		err     error
	}{
		{name: "503 page", raw: &confirmtest.Raw{Status: 503, ContentType: "text/html", Body: "<h1>503</h1>"},
			outcome: confirm.Transient, status: "HTTP 503"},
		{name: "429 with Retry-After", raw: &confirmtest.Raw{Status: 429, Header: http.Header{"Retry-After": {"7"}}},
			outcome: confirm.Transient, status: "HTTP 429"},
		{name: "success inside a 200 page", raw: &confirmtest.Raw{ContentType: "text/html",
			Body: `<script>{"MessageId":"h","MessageFeedbackStatus":"RECEIVED"}</script>`},
			outcome: confirm.Transient, status: "HTTP 200", err: confirm.ErrUnreadable},
		{name: "exception in a 308", raw: &confirmtest.Raw{Status: 308, ContentType: awstest.ContentType,
			Header: http.Header{"Location": {"http://127.0.0.1:1/"}}, Body: `{"__type":"ValidationException"}`},
			outcome: confirm.Transient, status: "HTTP 308", err: confirm.ErrUnreadable},
		{name: "secret echoed in a message", exc: &awstest.Exception{Name: "AccessDeniedException",
			Message: "key " + awstest.AccessKeyID + " secret " + awstest.SecretAccessKey + "\x00\n"},
			outcome: confirm.Credentials, status: "AccessDeniedException"},
		{name: "hostile exception name", exc: &awstest.Exception{Name: "Evil\u2028" + strings.Repeat("x", 300) + awstest.SecretAccessKey, InHeader: true},
			outcome: confirm.Transient},
		{name: "a body over 64 KiB in an error", raw: &confirmtest.Raw{Status: 400, ContentType: awstest.ContentType,
			Body: `{"__type":"ValidationException"}`, Pad: 65<<10 + 1}, outcome: confirm.Transient, err: confirm.ErrTooLarge},
	}
	for i, tc := range cases {
		id := fmt.Sprintf("hostile-%d", i)
		if tc.raw != nil {
			fake.Raw(id, *tc.raw)
		} else {
			fake.Exception(id, *tc.exc)
		}
		a, err := c.Confirm(context.Background(), conv(id))
		if a.Outcome != tc.outcome || (tc.status != "" && a.Status != tc.status) {
			t.Errorf("%s: %+v, %v; want %s %q", tc.name, a, err, tc.outcome, tc.status)
		}
		if (tc.err == nil && err != nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
		}
		texts := []string{a.Status, a.Meaning}
		if err != nil {
			texts = append(texts, err.Error())
		}
		for _, s := range texts {
			if len(s) > 512 || strings.ContainsAny(s, "\x00\n\u2028") ||
				strings.Contains(s, awstest.SecretAccessKey[:10]) || strings.Contains(s, awstest.AccessKeyID[4:]) {
				t.Errorf("%s: unsafe text %q", tc.name, s)
			}
		}
		if tc.name == "429 with Retry-After" && a.RetryAfter != 7*time.Second {
			t.Errorf("%s: RetryAfter %s, want 7s", tc.name, a.RetryAfter)
		}
	}
}
