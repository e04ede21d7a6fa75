package inbound_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/monitor"
	"relay/internal/testenv"
)

// TestRateLimitOnEveryIngestRoute: RELAY_RATE_LIMIT holds on every /v1
// route, the message routes and the reads too, or a leaked key could
// have relay track (and poll the vendor for) any app's messages without
// bound. The clock stands still, so a spent bucket stays empty.
func TestRateLimitOnEveryIngestRoute(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	now := time.Now()
	routes := []struct {
		key, method, path, body string
		first                   int
	}{
		{"k-reg", http.MethodGet, "/v1/registrations/" + inbound.EventID("liasmart", "unknown").String(), "", http.StatusNotFound},
		{"k-msg", http.MethodPost, "/v1/messages", `{"vendor":"laaffic","message_id":"rl-1"}`, http.StatusAccepted},
		{"k-msgbatch", http.MethodPost, "/v1/messages/batch", `{"messages":[{"vendor":"laaffic","message_id":"rl-2"}]}`, http.StatusOK},
		{"k-msgget", http.MethodGet, "/v1/messages/" + inbound.TrackedMessageID("laaffic", "rl-1").String(), "", http.StatusOK},
	}
	secret := func(key string) string { return "secret-" + key + "-0123456789" }
	e := newEnv(t, st, func(c *inbound.Config) {
		c.RateLimit = 1
		c.Now = func() time.Time { return now }
		for _, r := range routes {
			c.APIKeys[r.key] = secret(r.key)
		}
		c.APIKeys["k-big"] = secret("k-big")
	})
	e.srv.SetMessageService(&monitor.Tracker{Store: st, Vendors: map[string]string{"laaffic": "app"}, TTL: time.Hour})
	send := func(key, method, path, body string) (*http.Response, []byte) {
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		return e.do(t, method, path, b, map[string]string{"Authorization": "Bearer " + secret(key), "Content-Type": "application/json"})
	}
	for _, r := range routes {
		resp, out := send(r.key, r.method, r.path, r.body)
		if resp.StatusCode != r.first {
			t.Errorf("%s %s, first: %d %s, want %d", r.method, r.path, resp.StatusCode, truncate(out), r.first)
		}
		resp, out = send(r.key, r.method, r.path, r.body)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s %s, second at the same instant: %d %s, want 429", r.method, r.path, resp.StatusCode, truncate(out))
			continue
		}
		p := checkProblem(t, resp, out, http.StatusTooManyRequests, "")
		if !strings.HasSuffix(p.Type, ":rate-limited") {
			t.Errorf("%s %s: type %q", r.method, r.path, p.Type)
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("%s %s: Retry-After %q, want whole seconds >= 1", r.method, r.path, resp.Header.Get("Retry-After"))
		}
	}
	// A batch of messages spends one token per message: two are more
	// than one second of the rate.
	resp, out := send("k-big", http.MethodPost, "/v1/messages/batch",
		`{"messages":[{"vendor":"laaffic","message_id":"rl-3"},{"vendor":"laaffic","message_id":"rl-4"}]}`)
	if p := checkProblem(t, resp, out, http.StatusTooManyRequests, ""); !strings.Contains(p.Detail, "split the batch") {
		t.Errorf("oversized batch: detail %q", p.Detail)
	}
	if _, err := st.Message(t.Context(), inbound.TrackedMessageID("laaffic", "rl-3")); err == nil {
		t.Error("a refused batch tracked its messages")
	}
}
