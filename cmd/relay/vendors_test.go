package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
	"relay/internal/vendors/twilio/twiliotest"
)

// TestConfirmVendorsThroughOneWorker: with RELAY_CONFIRM_VENDORS naming
// CTrack, Twilio and Vonage (the last without credentials), each event is
// confirmed with the vendor it names by the same worker, an event of the
// vendor without credentials waits paused, and a vendor not enabled is 422.
func TestConfirmVendorsThroughOneWorker(t *testing.T) {
	t.Parallel()
	const account, token = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token-0123456789"
	tw := twiliotest.NewServer(t, twiliotest.Options{AccountSID: account, AuthToken: token})
	r := startRelay(t, liasmarttest.Options{APIID: "API4623444906", APIPassword: "password@123"}, func(c *config.Config) {
		c.ConfirmVendors = []string{"liasmart", "twilio", "vonage"}
		c.Twilio = config.Twilio{URL: tw.URL(), AccountSID: account, AuthToken: token}
	})
	sid := twiliotest.MessageSID(4134)
	events := map[string]string{"liasmart": "4134", "twilio": sid, "vonage": "0A000000123ABCD1"}
	ids := map[string]string{}
	for vendor, msg := range events {
		code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":%q,"message_id":%q,"status":true}`, vendor, msg))
		if code != 202 {
			t.Fatalf("%s: %d %v", vendor, code, body)
		}
		ids[vendor] = inbound.EventID(vendor, msg).String()
	}
	want := map[string]string{"liasmart": "confirmed", "twilio": "confirmed", "vonage": "paused"}
	testenv.Eventually(t, 20*time.Second, "each event's state", func() bool {
		for vendor, state := range want {
			if r.state(t, ids[vendor]) != state {
				return false
			}
		}
		return true
	})
	if n := tw.Calls(sid); n != 1 {
		t.Errorf("Twilio received %d calls for %s, want 1", n, sid)
	}
	if n := r.fake.Confirmations("4134"); n != 1 {
		t.Errorf("CTrack confirmed 4134 %d times, want 1", n)
	}
	code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"telesign","message_id":"x","status":true}`)
	if text := fmt.Sprint(body); code != 422 || !strings.Contains(text, `"telesign"`) || !strings.Contains(text, "twilio") {
		t.Errorf("a vendor not enabled: %d %v, want 422 naming the accepted ones", code, body)
	}
}
