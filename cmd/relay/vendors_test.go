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

// TestASlowVendorDelaysNoOther: CTrack takes seconds to answer and its
// calls fill RELAY_WORKER_CONCURRENCY; a Twilio event posted then is
// confirmed while they are still in flight, since each vendor has its own
// consumer, workers and calls in flight.
func TestASlowVendorDelaysNoOther(t *testing.T) {
	t.Parallel()
	const account, token = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token-0123456789"
	tw := twiliotest.NewServer(t, twiliotest.Options{AccountSID: account, AuthToken: token})
	r := startRelay(t, liasmarttest.Options{APIID: "API4623444906", APIPassword: "password@123", Latency: 6 * time.Second}, func(c *config.Config) {
		c.ConfirmVendors = []string{"liasmart", "twilio"}
		c.Twilio = config.Twilio{URL: tw.URL(), AccountSID: account, AuthToken: token}
		c.WorkerConcurrency = 2
	})
	slow := []string{"slow-1", "slow-2", "slow-3"}
	for _, msg := range slow {
		if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":%q,"status":true}`, msg)); code != 202 {
			t.Fatalf("liasmart: %d %v", code, body)
		}
	}
	testenv.Eventually(t, 5*time.Second, "two CTrack calls in flight", func() bool {
		n := 0
		for _, msg := range slow {
			n += r.fake.InFlight(msg)
		}
		return n == 2
	})
	sid := twiliotest.MessageSID(7)
	if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"twilio","message_id":%q,"status":true}`, sid)); code != 202 {
		t.Fatalf("twilio: %d %v", code, body)
	}
	twilioID := inbound.EventID("twilio", sid).String()
	testenv.Eventually(t, 5*time.Second, "the Twilio event confirmed", func() bool { return r.state(t, twilioID) == "confirmed" })
	for _, msg := range slow {
		if s := r.state(t, inbound.EventID("liasmart", msg).String()); s == "confirmed" {
			t.Errorf("the slow CTrack event %s is %s already: the test proves nothing", msg, s)
		}
	}
}
