package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"relay/internal/bus"
	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

const opsAdminToken = "admin-token-0123456789abcdef"

// opsRelay starts a relay with the admin API on, RELAY_MAX_ATTEMPTS
// maxAttempts, and a fake CTrack whose answer script is given. The breaker
// is off (RELAY_BREAKER_THRESHOLD=0): these tests make failed events with
// an outage, which the breaker would rightly hold paused instead.
func opsRelay(t *testing.T, maxAttempts int, script func(messageID string, n int) *liasmarttest.Reply) *relayUnderTest {
	t.Helper()
	return startRelay(t, liasmarttest.Options{Script: script}, func(c *config.Config) {
		c.AdminToken = opsAdminToken
		c.MaxAttempts = maxAttempts
		c.BreakerThreshold = 0
	})
}

// outage answers 503 until recovered is set, then behaves like CTrack.
func outage(recovered *atomic.Bool) func(string, int) *liasmarttest.Reply {
	return func(string, int) *liasmarttest.Reply {
		if recovered.Load() {
			return nil
		}
		return &liasmarttest.Reply{Status: http.StatusServiceUnavailable}
	}
}

// call sends a request with token (none when empty) and decodes the JSON
// answer into out (when non-nil).
func (r *relayUnderTest) call(t *testing.T, token, method, path, body string, hdr map[string]string, out any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, resp.Header
}

func (r *relayUnderTest) admin(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	code, _ := r.call(t, opsAdminToken, method, path, body, nil, out)
	return code
}

type statsAnswer struct {
	Total   int64            `json:"total"`
	ByState map[string]int64 `json:"by_state"`
	Vendors []struct {
		Vendor string `json:"vendor"`
		Paused bool   `json:"paused"`
		Reason string `json:"reason"`
	} `json:"vendors"`
	Consumer *struct {
		Pending    uint64 `json:"pending"`
		AckPending int    `json:"ack_pending"`
	} `json:"consumer"`
}

func (r *relayUnderTest) stats(t *testing.T) statsAnswer {
	t.Helper()
	var st statsAnswer
	if code := r.admin(t, "GET", "/admin/v1/stats", "", &st); code != 200 {
		t.Fatalf("GET /admin/v1/stats: %d", code)
	}
	return st
}

// waitStates waits until want[state] events are in each named state.
func (r *relayUnderTest) waitStates(t *testing.T, timeout time.Duration, want map[string]int64) {
	t.Helper()
	testenv.Eventually(t, timeout, fmt.Sprintf("events in states %v", want), func() bool {
		st := r.stats(t)
		for s, n := range want {
			if st.ByState[s] != n {
				return false
			}
		}
		return true
	})
}

type replayAnswer struct {
	ReplayID     string `json:"replay_id"`
	DryRun       bool   `json:"dry_run"`
	Matched      int    `json:"matched"`
	Replayed     int    `json:"replayed"`
	WouldReplay  int    `json:"would_replay"`
	SkippedTotal int    `json:"skipped_total"`
	Skipped      []struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	} `json:"skipped"`
}

// streamMsgs counts the registrations ever stored: the stream's last
// sequence, since the work queue removes a message once it is acked.
func (r *relayUnderTest) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := r.main.Bus.JS.Stream(ctx, bus.RegistrationsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func (r *relayUnderTest) metric(t *testing.T, line string) bool {
	t.Helper()
	resp, err := r.client.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(raw), line+"\n")
}

// TestReplayThousandFailedAfterVendorRecovers is the scenario: a
// vendor outage fails 1,000 events; once it recovers, one replay confirms
// them all, each message_id confirmed exactly once at the vendor.
func TestReplayThousandFailedAfterVendorRecovers(t *testing.T) {
	t.Parallel()
	var recovered atomic.Bool
	r := opsRelay(t, 2, outage(&recovered))

	const n = 1000
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf(`{"vendor":"liasmart","message_id":"out-%04d","status":true}`, i)
	}
	if code, _, body := r.do(t, "POST", "/v1/registrations/batch", `{"events":[`+strings.Join(events, ",")+`]}`); code != 200 {
		t.Fatalf("batch: %d %v", code, body)
	}
	r.waitStates(t, 30*time.Second, map[string]int64{"failed": n})
	if got := len(r.fake.ConfirmedIDs()); got != 0 {
		t.Fatalf("%d confirmations during the outage", got)
	}

	recovered.Store(true)
	var res replayAnswer
	if code := r.admin(t, "POST", "/admin/v1/replays", `{"filter":{"state":"failed","vendor":"liasmart","since":"1h"}}`, &res); code != 200 {
		t.Fatalf("replay: %d", code)
	}
	if res.Matched != n || res.Replayed != n || res.SkippedTotal != 0 || res.ReplayID == "" {
		t.Fatalf("replay answer %+v", res)
	}
	r.waitStates(t, 30*time.Second, map[string]int64{"confirmed": n})

	confirmed := r.fake.ConfirmedIDs()
	if len(confirmed) != n {
		t.Errorf("vendor confirmed %d message ids, want %d", len(confirmed), n)
	}
	for msg, c := range confirmed {
		if c != 1 {
			t.Errorf("%s got %d answers of 1000, want exactly 1", msg, c)
		}
	}
	// The history is kept and attempts keep counting: 2 failed calls, then
	// the confirmation.
	var att struct {
		Event    inbound.EventView `json:"event"`
		Attempts []struct {
			Outcome       string `json:"outcome"`
			HTTPStatus    *int   `json:"http_status"`
			VendorCode    *int   `json:"vendor_code"`
			VendorMeaning string `json:"vendor_meaning"`
		} `json:"attempts"`
	}
	if code := r.admin(t, "GET", "/admin/v1/attempts/liasmart:out-0007", "", &att); code != 200 {
		t.Fatalf("attempts: %d", code)
	}
	if att.Event.Attempts != 3 || len(att.Attempts) != 3 || att.Event.State != "confirmed" {
		t.Fatalf("event after replay: %+v with %d attempts recorded", att.Event, len(att.Attempts))
	}
	if a := att.Attempts[0]; a.HTTPStatus == nil || *a.HTTPStatus != 503 || a.Outcome != "retry" {
		t.Errorf("first attempt %+v, want a 503 retry", a)
	}
	if a := att.Attempts[2]; a.VendorCode == nil || *a.VendorCode != 1000 || a.VendorMeaning != "OK" {
		t.Errorf("last attempt %+v, want 1000 OK", a)
	}
	var list struct {
		Items []struct {
			Actor    string `json:"actor"`
			Replayed int    `json:"replayed"`
			Status   string `json:"status"`
		} `json:"items"`
	}
	if code := r.admin(t, "GET", "/admin/v1/replays", "", &list); code != 200 || len(list.Items) != 1 ||
		list.Items[0].Actor != "admin" || list.Items[0].Replayed != n || list.Items[0].Status != "done" {
		t.Errorf("replays listing: %d %+v", code, list)
	}
	if !r.metric(t, `relay_replays_total{dry_run="false"} 1`) || !r.metric(t, fmt.Sprintf("relay_replayed_events_total %d", n)) {
		t.Error("replay metrics not exported")
	}
}

// TestReplayRules: dry runs change nothing, an Idempotency-Key replays
// once, confirmed events need force, unknown ids are reported.
func TestReplayRules(t *testing.T) {
	t.Parallel()
	var recovered atomic.Bool
	r := opsRelay(t, 1, func(msg string, n int) *liasmarttest.Reply {
		if strings.HasPrefix(msg, "bad-") && !recovered.Load() {
			return &liasmarttest.Reply{Status: http.StatusBadGateway}
		}
		return nil
	})
	ids := map[string]string{}
	for _, msg := range []string{"bad-1", "bad-2", "bad-3", "good-1"} {
		code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":%q,"status":true}`, msg))
		if code != 202 {
			t.Fatalf("POST %s: %d %v", msg, code, body)
		}
		ids[msg] = body["id"].(string)
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"failed": 3, "confirmed": 1})
	recovered.Store(true)
	msgsBefore, callsBefore := r.streamMsgs(t), len(r.fake.Calls())

	t.Run("dry run changes nothing", func(t *testing.T) {
		var res replayAnswer
		if code := r.admin(t, "POST", "/admin/v1/replays", `{"filter":{"state":"failed,confirmed"},"dry_run":true}`, &res); code != 200 {
			t.Fatalf("dry run: %d", code)
		}
		if !res.DryRun || res.Matched != 4 || res.Replayed != 0 || res.WouldReplay != 3 || res.SkippedTotal != 1 ||
			res.Skipped[0].ID != ids["good-1"] || !strings.Contains(res.Skipped[0].Reason, "confirmed") {
			t.Fatalf("dry run answer %+v", res)
		}
		if st := r.stats(t); st.ByState["failed"] != 3 {
			t.Errorf("after a dry run: %v", st.ByState)
		}
		if got := r.streamMsgs(t); got != msgsBefore {
			t.Errorf("a dry run published %d messages", got-msgsBefore)
		}
		if !r.metric(t, `relay_replays_total{dry_run="true"} 1`) {
			t.Error("dry run not counted")
		}
	})

	t.Run("idempotency key replays once", func(t *testing.T) {
		body := fmt.Sprintf(`{"ids":[%q,%q]}`, ids["bad-1"], ids["bad-1"])
		hdr := map[string]string{"Idempotency-Key": "op-42", "X-Relay-Actor": "cli:alice"}
		var first, second replayAnswer
		code, h := r.call(t, opsAdminToken, "POST", "/admin/v1/replays", body, hdr, &first)
		if code != 200 || first.Replayed != 1 || first.Matched != 1 || h.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first: %d %+v", code, first)
		}
		testenv.Eventually(t, 10*time.Second, "bad-1 confirmed", func() bool { return r.state(t, ids["bad-1"]) == "confirmed" })
		code, h = r.call(t, opsAdminToken, "POST", "/admin/v1/replays", body, hdr, &second)
		if code != 200 || h.Get("Idempotent-Replayed") != "true" || !reflect.DeepEqual(second, first) {
			t.Fatalf("repeat: %d %+v, want the stored %+v", code, second, first)
		}
		if got := r.streamMsgs(t); got != msgsBefore+1 {
			t.Errorf("stream grew by %d messages, want 1", got-msgsBefore)
		}
		if n := r.fake.CallsFor("bad-1"); n != 2 {
			t.Errorf("bad-1 called %d times, want 2 (the failure and the replay)", n)
		}
		// The same key for another request is refused, not answered with
		// the first request's result.
		code, _ = r.call(t, opsAdminToken, "POST", "/admin/v1/replays", fmt.Sprintf(`{"ids":[%q]}`, ids["bad-2"]), hdr, nil)
		if code != 422 {
			t.Errorf("key reused for another request: %d, want 422", code)
		}
		var list struct {
			Items []struct {
				Actor  string `json:"actor"`
				IDs    int    `json:"ids"`
				DryRun bool   `json:"dry_run"`
			} `json:"items"`
		}
		r.admin(t, "GET", "/admin/v1/replays?limit=1", "", &list)
		if len(list.Items) != 1 || list.Items[0].Actor != "cli:alice" || list.Items[0].IDs != 1 || list.Items[0].DryRun {
			t.Errorf("newest replay %+v", list.Items)
		}
	})

	t.Run("confirmed refused unless forced, unknown ids reported", func(t *testing.T) {
		unknown := inbound.EventID("liasmart", "never-sent").String()
		var res replayAnswer
		body := fmt.Sprintf(`{"ids":[%q,%q,%q]}`, ids["good-1"], ids["bad-2"], unknown)
		if code := r.admin(t, "POST", "/admin/v1/replays", body, &res); code != 200 {
			t.Fatalf("replay: %d", code)
		}
		reasons := map[string]string{}
		for _, s := range res.Skipped {
			reasons[s.ID] = s.Reason
		}
		if res.Matched != 2 || res.Replayed != 1 || reasons[unknown] != "unknown id" || !strings.Contains(reasons[ids["good-1"]], "force") {
			t.Fatalf("answer %+v", res)
		}
		testenv.Eventually(t, 10*time.Second, "bad-2 confirmed", func() bool { return r.state(t, ids["bad-2"]) == "confirmed" })
		if r.fake.CallsFor("good-1") != 1 {
			t.Errorf("a refused confirmed event was sent again")
		}

		res = replayAnswer{}
		if code := r.admin(t, "POST", "/admin/v1/replays", fmt.Sprintf(`{"ids":[%q],"force":true}`, ids["good-1"]), &res); code != 200 || res.Replayed != 1 {
			t.Fatalf("forced replay: %d %+v", code, res)
		}
		testenv.Eventually(t, 10*time.Second, "good-1 re-sent", func() bool { return r.state(t, ids["good-1"]) == "already_confirmed" })
		if c := r.fake.Confirmations("good-1"); c != 1 {
			t.Errorf("good-1 confirmed %d times at the vendor", c)
		}
		_, _, ev := r.do(t, "GET", "/v1/registrations/"+ids["good-1"], "")
		if ev["attempts"] != float64(2) || ev["vendor_code"] != float64(1009) {
			t.Errorf("forced event %v, want 2 attempts ending in 1009", ev)
		}
	})

	if n := len(r.fake.Calls()) - callsBefore; n != 3 {
		t.Errorf("%d vendor calls during the replays, want 3 (bad-1, bad-2, forced good-1)", n)
	}
}

// TestResumeVendorAfterCredentialsPause: rejected credentials pause the
// vendor (visible in stats); after the fix, resume sends the paused events.
func TestResumeVendorAfterCredentialsPause(t *testing.T) {
	t.Parallel()
	var fixed atomic.Bool
	r := opsRelay(t, 3, func(string, int) *liasmarttest.Reply {
		if fixed.Load() {
			return nil
		}
		return &liasmarttest.Reply{Code: 1004}
	})
	for i := range 5 {
		if code, _, body := r.do(t, "POST", "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":"p-%d","status":true}`, i)); code != 202 {
			t.Fatalf("POST: %d %v", code, body)
		}
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"paused": 5})
	st := r.stats(t)
	if len(st.Vendors) != 1 || !st.Vendors[0].Paused || !strings.Contains(st.Vendors[0].Reason, "1004") {
		t.Fatalf("vendors in stats: %+v", st.Vendors)
	}
	if st.Consumer == nil {
		t.Error("stats lack the consumer's backlog")
	}

	fixed.Store(true)
	var res struct {
		Vendor   string `json:"vendor"`
		Resumed  bool   `json:"resumed"`
		Requeued int    `json:"requeued"`
	}
	if code := r.admin(t, "POST", "/admin/v1/vendors/liasmart/resume", "", &res); code != 200 || !res.Resumed || res.Requeued != 5 || res.Vendor != "liasmart" {
		t.Fatalf("resume: %d %+v", code, res)
	}
	r.waitStates(t, 20*time.Second, map[string]int64{"confirmed": 5})
	if st := r.stats(t); st.Vendors[0].Paused {
		t.Errorf("vendor still paused after resume: %+v", st.Vendors)
	}
	res.Resumed = true
	if code := r.admin(t, "POST", "/admin/v1/vendors/liasmart/resume", "", &res); code != 200 || res.Resumed {
		t.Errorf("second resume: %d %+v, want resumed=false", code, res)
	}
}

// TestAdminTokenIsNotAnIngestKey: each credential opens its own door only.
func TestAdminTokenIsNotAnIngestKey(t *testing.T) {
	t.Parallel()
	r := opsRelay(t, 1, nil)
	if code, _ := r.call(t, testKey, "GET", "/admin/v1/stats", "", nil, nil); code != 401 {
		t.Errorf("ingest key on the admin API: %d, want 401", code)
	}
	if code, _ := r.call(t, opsAdminToken, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"x","status":true}`, nil, nil); code != 401 {
		t.Errorf("admin token on ingest: %d, want 401", code)
	}
	if code, _ := r.call(t, "", "GET", "/admin/v1/registrations", "", nil, nil); code != 401 {
		t.Errorf("no token on the admin API: %d, want 401", code)
	}
	if code := r.admin(t, "GET", "/admin/v1/registrations", "", nil); code != 200 {
		t.Errorf("admin token on the admin API: %d", code)
	}
}
