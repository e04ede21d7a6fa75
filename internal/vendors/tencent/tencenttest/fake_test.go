package tencenttest_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"relay/internal/vendors/tencent/tencenttest"
)

// TestFakeFindsRequestsOffTheDocumentation: each request breaks one
// documented rule, and the fake must name it.
func TestFakeFindsRequestsOffTheDocumentation(t *testing.T) {
	t.Parallel()
	now := time.Now().Unix()
	ok := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Tc-Action": {"ReportConversion"},
		"X-Tc-Version": {"2021-01-11"}, "X-Tc-Region": {"ap-singapore"}, "X-Tc-Timestamp": {itoa(now)},
		"Authorization": {"TC3-HMAC-SHA256 Credential=id/" + time.Unix(now, 0).UTC().Format("2006-01-02") + "/sms/tc3_request, SignedHeaders=content-type;host, Signature=00"}}
	body := `{"SmsSdkAppId":"1400006666","SerialNo":"5000:1"}`
	for _, c := range []struct {
		name, body, want string
		edit             func(http.Header)
	}{
		{"content type", body, "Content-Type", func(h http.Header) { h.Set("Content-Type", "application/json") }},
		{"action", body, "X-TC-Action", func(h http.Header) { h.Set("X-TC-Action", "SendSms") }},
		{"region", body, "X-TC-Region", func(h http.Header) { h.Set("X-TC-Region", "ap-guangzhou") }},
		{"stale timestamp", body, "X-TC-Timestamp", func(h http.Header) { h.Set("X-TC-Timestamp", itoa(now-600)) }},
		{"signature", body, "signature", func(http.Header) {}},
		{"milliseconds", `{"SmsSdkAppId":"1400006666","SerialNo":"5000:1","ConversionTime":` + itoa(now*1000) + `}`, "ConversionTime", func(http.Header) {}},
		{"app id", `{"SmsSdkAppId":"1","SerialNo":"5000:1"}`, "SmsSdkAppId", func(http.Header) {}},
		{"extra field", `{"SmsSdkAppId":"1400006666","SerialNo":"5000:1","Status":"x"}`, "unexpected field", func(http.Header) {}},
	} {
		f := tencenttest.NewServer(t, tencenttest.Options{SecretID: "id", SecretKey: "key", SmsSdkAppID: "1400006666", Region: "ap-singapore"})
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/", strings.NewReader(c.body))
		req.Header = ok.Clone()
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

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
