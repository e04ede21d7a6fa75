package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/testenv"
	"relay/internal/vendors/alibaba/alibabatest"
	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/liasmart/liasmarttest"
	"relay/internal/vendors/plivo/plivotest"
	"relay/internal/vendors/telesign/telesigntest"
	"relay/internal/vendors/tencent/tencenttest"
	"relay/internal/vendors/twilio/twiliotest"
	"relay/internal/vendors/vonage/vonagetest"
)

// TestNoVendorSecretLeaks: six confirm vendors, each of which first
// answers an error page echoing the credentials relay sent it, then
// confirms. Every event ends confirmed, and no credential is in the logs,
// any table, the outcome events or the metrics.
func TestNoVendorSecretLeaks(t *testing.T) {
	t.Parallel()
	const (
		twilioAccount  = "AC0123456789abcdef0123456789abcdef"
		twilioToken    = "twilio-token-SECRET-4f1e"
		plivoID        = "MAPLIVOAUTHID0123456"
		plivoToken     = "plivo-token-SECRET-77aa"
		vonageKey      = "vonagekey1"
		vonageSecret   = "vonage-secret-SECRET-5c2"
		telesignID     = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
		telesignKey    = "telesign-key-SECRET-0b9d"
		tencentID      = "AKIDtencent0123456789"
		tencentKey     = "tencent-key-SECRET-19ce"
		tencentApp     = "1400006666"
		alibabaID      = "LTAIalibaba0123456"
		alibabaSecret  = "alibaba-secret-SECRET-e3"
		telesignRefHex = "0123456789ABCDEF0123456789ABCDEF"
	)
	secrets := []string{twilioToken, plivoToken, vonageSecret, telesignKey, tencentKey, alibabaSecret}
	// A vendor can echo only what it was sent: its own credentials.
	echo := func(creds ...string) confirmtest.Raw {
		return confirmtest.Raw{Status: 500, ContentType: "text/plain", Body: "refused: " + strings.Join(creds, " ")}
	}

	tw := twiliotest.NewServer(t, twiliotest.Options{AccountSID: twilioAccount, AuthToken: twilioToken})
	pl := plivotest.NewServer(t, plivotest.Options{AuthID: plivoID, AuthToken: plivoToken})
	vo := vonagetest.NewServer(t, vonagetest.Options{APIKey: vonageKey, APISecret: vonageSecret})
	te := telesigntest.NewServer(t, telesigntest.Options{CustomerID: telesignID, APIKey: telesignKey})
	tc := tencenttest.NewServer(t, tencenttest.Options{SecretID: tencentID, SecretKey: tencentKey, SmsSdkAppID: tencentApp})
	al := alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: alibabaID, AccessKeySecret: alibabaSecret})
	events := []struct {
		vendor, msg string
		fake        confirmtest.Fake
		echo        confirmtest.Raw
	}{
		{"twilio", twiliotest.MessageSID(1), tw, echo(twilioAccount, twilioToken)},
		{"plivo", plivotest.MessageUUID(1), pl, echo(plivoID, plivoToken)},
		{"vonage", "0A0000001234ABCD", vo, echo(vonageKey, vonageSecret)},
		{"telesign", telesignRefHex, te, echo(telesignID, telesignKey)},
		{"tencent", "2019:1234567890", tc, echo(tencentID, tencentKey)},
		{"alibaba", "1008030300901234567", al, echo(alibabaID, alibabaSecret)},
	}
	var logs syncBuffer
	r := startRelayLogging(t, liasmarttest.Options{}, func(c *config.Config) {
		c.ConfirmVendors = []string{"liasmart", "twilio", "plivo", "vonage", "telesign", "tencent", "alibaba"}
		c.Twilio = config.Twilio{URL: tw.URL(), AccountSID: twilioAccount, AuthToken: twilioToken}
		c.Plivo = config.Plivo{URL: pl.URL(), AuthID: plivoID, AuthToken: plivoToken}
		c.Vonage = config.Vonage{URL: vo.URL(), APIKey: vonageKey, APISecret: vonageSecret}
		c.Telesign = config.Telesign{URL: te.URL(), CustomerID: telesignID, APIKey: telesignKey}
		c.Tencent = config.Tencent{URL: tc.URL(), SecretID: tencentID, SecretKey: tencentKey, SMSSDKAppID: tencentApp, Region: "ap-guangzhou"}
		c.Alibaba = config.Alibaba{URL: al.URL(), AccessKeyID: alibabaID, AccessKeySecret: alibabaSecret}
		c.LogLevel = "debug"
	}, &logs)
	for _, e := range events {
		e.fake.Raw(e.msg, e.echo)
		if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":%q,"message_id":%q,"status":true}`, e.vendor, e.msg)); code != 202 {
			t.Fatalf("%s: %d %v", e.vendor, code, body)
		}
	}
	for _, e := range events {
		id := inbound.EventID(e.vendor, e.msg).String()
		testenv.Eventually(t, 20*time.Second, e.vendor+" event confirmed after the echo", func() bool { return r.state(t, id) == "confirmed" })
		if n := e.fake.Calls(e.msg); n != 2 {
			t.Errorf("%s: %d calls, want the echo and the confirmation", e.vendor, n)
		}
	}
	check := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the credential %q", where, s)
			}
		}
	}
	ctx := context.Background()
	for _, table := range []string{"events", "attempts", "vendor_status", "outbox"} {
		rows, err := r.main.Store.Pool().Query(ctx, "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			check("table "+table, row)
		}
		rows.Close()
	}
	var echoed int
	if err := r.main.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM attempts WHERE http_status = 500`).Scan(&echoed); err != nil || echoed != len(events) {
		t.Errorf("%d attempts record the echo (%v), want %d: the scenario did not exercise the error path", echoed, err, len(events))
	}
	resp, err := r.client.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("metrics", string(metrics))
	check("logs", logs.String())
}
