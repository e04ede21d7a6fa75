package alibabatest_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"relay/internal/vendors/alibaba/alibabatest"
)

// TestFakeFindsRequestsOffTheDocumentation: each request breaks one
// documented rule, and the fake must name it.
func TestFakeFindsRequestsOffTheDocumentation(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ok := http.Header{"X-Acs-Action": {"SmsConversionIntl"}, "X-Acs-Version": {"2017-05-25"},
		"X-Acs-Content-Sha256": {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		"X-Acs-Date":           {now.UTC().Format("2006-01-02T15:04:05Z")},
		"Authorization":        {"ACS3-HMAC-SHA256 Credential=id,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=00"}}
	q := "Delivered=true&MessageId=1008030300"
	for i, c := range []struct {
		name, query, want string
		edit              func(http.Header)
	}{
		{"action", q, "x-acs-action", func(h http.Header) { h.Set("x-acs-action", "SendSms") }},
		{"version", q, "x-acs-version", func(h http.Header) { h.Set("x-acs-version", "2018-05-01") }},
		{"stale date", q, "x-acs-date", func(h http.Header) { h.Set("x-acs-date", now.Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")) }},
		{"no nonce", q, "nonce", func(h http.Header) { h.Del("x-acs-signature-nonce") }},
		{"signature", q, "signature", func(http.Header) {}},
		{"unsigned header", q, "SignedHeaders", func(h http.Header) { h.Set("x-acs-extra", "1") }},
		{"delivered", "Delivered=false&MessageId=1008030300", "Delivered", func(http.Header) {}},
		{"future", q + "&ConversionTime=" + strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10), "future", func(http.Header) {}},
		{"seconds", q + "&ConversionTime=" + strconv.FormatInt(now.Unix(), 10), "milliseconds", func(http.Header) {}},
		{"extra parameter", q + "&To=85212345678", "unexpected parameter", func(http.Header) {}},
	} {
		f := alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: "id", AccessKeySecret: "secret"})
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/?"+c.query, nil)
		req.Header = ok.Clone()
		req.Header.Set("x-acs-signature-nonce", "nonce-"+strconv.Itoa(i))
		c.edit(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p := strings.Join(f.Problems(), "; "); !strings.Contains(p, c.want) {
			t.Errorf("%s: problems %q, want one about %s", c.name, p, c.want)
		}
	}
}
