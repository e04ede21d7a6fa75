package alibaba_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/alibaba"
	"relay/internal/vendors/alibaba/alibabatest"
	"relay/internal/vendors/confirm"
)

// recorder is a vendor that keeps the last query and answers OK.
type recorder struct {
	mu    sync.Mutex
	query url.Values
	n     int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	rec.mu.Lock()
	rec.query = r.URL.Query()
	rec.n++
	rec.mu.Unlock()
	_, _ = io.WriteString(w, `{"Code":"OK","Message":"OK","RequestId":"r"}`)
}

func newRecorder(t *testing.T) (*recorder, string) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func TestConversionTimeInMilliseconds(t *testing.T) {
	t.Parallel()
	rec, u := newRecorder(t)
	now := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	c := alibaba.New(alibaba.Config{BaseURL: u, AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123", Now: func() time.Time { return now }})
	at := now.Add(-90*time.Second - 250*time.Millisecond)
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"in the past", at, strconv.FormatInt(at.UnixMilli(), 10)},
		// A conversion time ahead of this host's clock is clamped: Alibaba
		// refuses one in the future.
		{"in the future", now.Add(time.Hour), strconv.FormatInt(now.UnixMilli(), 10)},
		{"none", time.Time{}, ""},
	} {
		a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030300", At: tc.at})
		if err != nil || a.Outcome != confirm.Confirmed || a.Status != "OK" {
			t.Fatalf("%s: %+v, %v", tc.name, a, err)
		}
		if got := rec.query.Get("ConversionTime"); got != tc.want {
			t.Errorf("%s: ConversionTime %q, want %q", tc.name, got, tc.want)
		}
		if rec.query.Get("Delivered") != "true" || rec.query.Get("MessageId") != "1008030300" {
			t.Errorf("%s: query %v", tc.name, rec.query)
		}
	}
}

// TestConversionTimeNeverInTheFuture: against the fake, which refuses a
// time after its own clock, a conversion an hour ahead is accepted.
func TestConversionTimeNeverInTheFuture(t *testing.T) {
	t.Parallel()
	f := alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123"})
	c := alibaba.New(alibaba.Config{BaseURL: f.URL(), AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123"})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030301", At: time.Now().Add(time.Hour)})
	if err != nil || a.Outcome != confirm.Confirmed || len(f.Problems()) != 0 {
		t.Errorf("%+v, %v, problems %q", a, err, f.Problems())
	}
}

func TestInvalidMessageIDMakesNoCall(t *testing.T) {
	t.Parallel()
	rec, u := newRecorder(t)
	c := alibaba.New(alibaba.Config{BaseURL: u, AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123"})
	for _, id := range []string{"", "10\x0080", "bad\xff"} {
		a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
		if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" {
			t.Errorf("%q: %+v, %v", id, a, err)
		}
	}
	if rec.n != 0 {
		t.Errorf("%d calls for ids Alibaba could never accept", rec.n)
	}
}

// TestWrongSecret: the fake recomputes the signature and refuses it as
// Alibaba does; relay pauses the vendor.
func TestWrongSecret(t *testing.T) {
	t.Parallel()
	f := alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "the-right-secret"})
	c := alibaba.New(alibaba.Config{BaseURL: f.URL(), AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "a-wrong-secret"})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030302", At: time.Now()})
	if err != nil || a.Outcome != confirm.Credentials || a.Status != alibaba.CodeSignatureDoesNotMatch || a.HTTPStatus != 400 {
		t.Errorf("%+v, %v", a, err)
	}
	if p := f.Problems(); len(p) != 1 || !strings.Contains(p[0], "signature") {
		t.Errorf("the fake should have seen exactly the bad signature: %q", p)
	}
}

// TestClockOff: a clock over 15 minutes off is the host's fault, retried,
// and logged for the operator.
func TestClockOff(t *testing.T) {
	t.Parallel()
	f := alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123"})
	var log bytes.Buffer
	c := alibaba.New(alibaba.Config{BaseURL: f.URL(), AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123",
		Now: func() time.Time { return time.Now().Add(-20 * time.Minute) }, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030303", At: time.Now()})
	if err != nil || a.Outcome != confirm.Transient || a.Status != alibaba.CodeTimestampExpired {
		t.Errorf("%+v, %v", a, err)
	}
	if !strings.Contains(log.String(), "clock") {
		t.Errorf("nothing logged: %q", log.String())
	}
}

// TestAccountWideBusinessCode: an isv code about the account pauses the
// vendor; one about the request fails the event.
func TestAccountWideBusinessCode(t *testing.T) {
	t.Parallel()
	f := alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123"})
	c := alibaba.New(alibaba.Config{BaseURL: f.URL(), AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: "ExampleAccessKeySecret0123"})
	f.Reply("1008030304", alibabatest.Reply{Code: "isv.OUT_OF_SERVICE", Message: "业务停机"})
	f.Reply("1008030305", alibabatest.Reply{Code: "isv.INVALID_PARAMETERS", Message: ""})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030304", At: time.Now()})
	if err != nil || a.Outcome != confirm.Credentials || a.Meaning != "业务停机" {
		t.Errorf("out of service: %+v, %v", a, err)
	}
	a, err = c.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030305", At: time.Now()})
	if err != nil || a.Outcome != confirm.Permanent || a.Meaning != "business error" {
		t.Errorf("invalid parameters: %+v, %v", a, err)
	}
}
