package tencent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/tencent"
	"relay/internal/vendors/tencent/tencenttest"
)

// recorder is a vendor that keeps the last request and answers OK.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
	n      int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.header, rec.body = r.Header.Clone(), b
	rec.n++
	rec.mu.Unlock()
	_, _ = io.WriteString(w, `{"Response":{"ReportConversionStatus":{"Code":"ok","Message":"ok"},"RequestId":"r"}}`)
}

func newRecorder(t *testing.T) (*recorder, string) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func TestRegionAndConversionTime(t *testing.T) {
	t.Parallel()
	rec, url := newRecorder(t)
	at := time.Date(2026, 3, 1, 8, 30, 15, 900_000_000, time.FixedZone("UTC+8", 8*3600))
	c := tencent.New(tencent.Config{BaseURL: url, SecretID: "id", SecretKey: "key", SmsSdkAppID: appID, Region: "ap-singapore"})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "5000:1", At: at})
	if err != nil || a.Outcome != confirm.Confirmed || a.Status != "ok" || a.HTTPStatus != 200 {
		t.Fatalf("%+v, %v", a, err)
	}
	if got := rec.header.Get("X-TC-Region"); got != "ap-singapore" {
		t.Errorf("X-TC-Region %q, want the configured ap-singapore", got)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.body, &body); err != nil {
		t.Fatal(err)
	}
	if body["ConversionTime"] != float64(at.Unix()) || body["SerialNo"] != "5000:1" || body["SmsSdkAppId"] != appID {
		t.Errorf("body %s: want ConversionTime %d (unix seconds of conv.At)", rec.body, at.Unix())
	}

	// No region configured: the default.
	c = tencent.New(tencent.Config{BaseURL: url, SecretID: "id", SecretKey: "key", SmsSdkAppID: appID})
	if _, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "5000:2"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.header.Get("X-TC-Region"); got != tencent.DefaultRegion {
		t.Errorf("X-TC-Region %q, want %q", got, tencent.DefaultRegion)
	}
	if bytes.Contains(rec.body, []byte("ConversionTime")) {
		t.Errorf("a conversion without a time sent one: %s", rec.body)
	}
}

func TestInvalidSerialNoMakesNoCall(t *testing.T) {
	t.Parallel()
	rec, url := newRecorder(t)
	c := tencent.New(tencent.Config{BaseURL: url, SecretID: "id", SecretKey: "key", SmsSdkAppID: appID})
	for _, id := range []string{"", "5000:\x00", "bad\xff"} {
		a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: time.Now()})
		if err != nil || a.Outcome != confirm.Permanent || a.Status != "invalid message_id" {
			t.Errorf("%q: %+v, %v", id, a, err)
		}
	}
	if rec.n != 0 {
		t.Errorf("%d calls for ids Tencent could never accept", rec.n)
	}
}

// TestSignatureExpire: a clock over 5 minutes off is the host's fault,
// retried, and logged for the operator.
func TestSignatureExpire(t *testing.T) {
	t.Parallel()
	f := tencenttest.NewServer(t, tencenttest.Options{SecretID: "id", SecretKey: "key", SmsSdkAppID: appID})
	var log bytes.Buffer
	c := tencent.New(tencent.Config{BaseURL: f.URL(), SecretID: "id", SecretKey: "key", SmsSdkAppID: appID,
		Now:    func() time.Time { return time.Now().Add(-6 * time.Minute) },
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "5000:3", At: time.Now()})
	if err != nil || a.Outcome != confirm.Transient || a.Status != tencent.CodeSignatureExpire {
		t.Errorf("%+v, %v", a, err)
	}
	if !strings.Contains(log.String(), "clock") {
		t.Errorf("nothing logged: %q", log.String())
	}
}

// TestWrongSecretKey: the fake recomputes the signature and refuses it as
// Tencent does; relay pauses the vendor.
func TestWrongSecretKey(t *testing.T) {
	t.Parallel()
	f := tencenttest.NewServer(t, tencenttest.Options{SecretID: "id", SecretKey: "the-right-key", SmsSdkAppID: appID})
	c := tencent.New(tencent.Config{BaseURL: f.URL(), SecretID: "id", SecretKey: "a-wrong-key", SmsSdkAppID: appID})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "5000:4", At: time.Now()})
	if err != nil || a.Outcome != confirm.Credentials || a.Status != "AuthFailure.SignatureFailure" {
		t.Errorf("%+v, %v", a, err)
	}
	if p := f.Problems(); len(p) != 1 || !strings.Contains(p[0], "signature") {
		t.Errorf("the fake should have seen exactly the bad signature: %q", p)
	}
}

// TestUnknownStatusCode: a ReportConversionStatus other than OK is the
// vendor's verdict, classified like any code.
func TestUnknownStatusCode(t *testing.T) {
	t.Parallel()
	f := tencenttest.NewServer(t, tencenttest.Options{SecretID: "id", SecretKey: "key", SmsSdkAppID: appID})
	c := tencent.New(tencent.Config{BaseURL: f.URL(), SecretID: "id", SecretKey: "key", SmsSdkAppID: appID})
	f.Reply("5000:5", tencenttest.Reply{Code: "FailedOperation.SerialNoNotExist", Message: "serial \x00 number not found"})
	a, err := c.Confirm(context.Background(), confirm.Conversion{MessageID: "5000:5", At: time.Now()})
	if err != nil || a.Outcome != confirm.Permanent || a.Meaning != "serial number not found" {
		t.Errorf("%+v, %v", a, err)
	}
}
