package main

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"relay/internal/bus/asyncapitest"
	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// TestVendorStatusEndToEnd: an event CTrack confirms shows vendor_status
// "1000" and vendor_code 1000; one it only ever answers with a bare 503
// shows vendor_status "HTTP 503" and vendor_code null, on GET
// /v1/registrations/{id} and in the outcome published on NATS.
func TestVendorStatusEndToEnd(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{APIID: "API4623444906", APIPassword: "password@123",
		Script: func(msg string, _ int) *liasmarttest.Reply {
			if msg == "down" {
				return &liasmarttest.Reply{Status: 503}
			}
			return nil
		}}, func(c *config.Config) {
		// The 503s fail the event rather than pause the vendor.
		c.MaxAttempts, c.BreakerThreshold = 2, 0
	})
	nc, err := nats.Connect(r.nats.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	outcomes := map[string]map[string]any{}
	sub, err := nc.Subscribe("relay.confirmations.liasmart.>", func(m *nats.Msg) {
		asyncapitest.Validate(t, m)
		var c map[string]any
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Errorf("outcome payload %q: %v", m.Data, err)
			return
		}
		msg, _ := c["message_id"].(string)
		mu.Lock()
		outcomes[msg] = c
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	for _, c := range []struct {
		msg, state   string
		code, status any
	}{
		{"ok", "confirmed", float64(1000), "1000"},
		{"down", "failed", nil, "HTTP 503"},
	} {
		if code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"`+c.msg+`","status":true}`); code != 202 {
			t.Fatalf("POST %s: %d %v", c.msg, code, body)
		}
		id := inbound.EventID("liasmart", c.msg).String()
		testenv.Eventually(t, 10*time.Second, c.msg+" "+c.state, func() bool { return r.state(t, id) == c.state })
		_, _, ev := r.do(t, "GET", "/v1/registrations/"+id, "")
		if code, ok := ev["vendor_code"]; !ok || code != c.code || ev["vendor_status"] != c.status {
			t.Errorf("%s: GET registration vendor_code %v (present %v) vendor_status %v; want %v %v", c.msg, code, ok, ev["vendor_status"], c.code, c.status)
		}
		var got map[string]any
		testenv.Eventually(t, 5*time.Second, "the outcome of "+c.msg+" on NATS", func() bool {
			mu.Lock()
			defer mu.Unlock()
			got = outcomes[c.msg]
			return got != nil
		})
		if code, ok := got["vendor_code"]; !ok || code != c.code || got["vendor_status"] != c.status || got["outcome"] != c.state {
			t.Errorf("%s: outcome on NATS %v; want outcome %s, vendor_code %v, vendor_status %v", c.msg, got, c.state, c.code, c.status)
		}
	}
}
