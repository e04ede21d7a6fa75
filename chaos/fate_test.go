//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/vendors/liasmart/liasmarttest"
)

// The scenarios of "PostgreSQL owns every event's fate": operators acting
// during traffic, pauses, outages longer than the retry budget, and a bus
// that has lost what relay still owes. Each ends with the suite's
// invariants, zero overlapping calls included.

// admin calls a replica's admin API and returns the status and body.
func (s *scenario) admin(r *relayProc, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, r.url()+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+chaosAdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestChaosReplayDuringTraffic: two replicas; the vendor fails a third of
// the calls for most of the load, so events keep passing through
// retrying; operators replay the retrying and failed events through both
// replicas at once, several times. No replay errs or deadlocks, and no
// replayed event is called twice at once.
func TestChaosReplayDuringTraffic(t *testing.T) {
	var faulty atomic.Bool
	faulty.Store(true)
	var n atomic.Int64
	s := newScenario(t, "replay", 2, func(string, int) *liasmarttest.Reply {
		if faulty.Load() && n.Add(1)%3 == 0 {
			return &liasmarttest.Reply{Status: 503, Delay: 20 * time.Millisecond}
		}
		return &liasmarttest.Reply{Delay: 20 * time.Millisecond}
	}, "RELAY_RETRY_BASE=200ms", "RELAY_RETRY_MAX=2s")
	p := s.plan
	s.startLoad()
	replays, replayed := 0, 0
	for i, frac := range []float64{0.2, 0.4, 0.6} {
		sleepUntil(s.at(p.load, frac))
		results := make(chan string, 2)
		for _, r := range s.relays {
			go func() {
				code, body, err := s.admin(r, "POST", "/admin/v1/replays", `{"filter":{"state":["retrying","failed"]}}`)
				if err != nil || code != 200 {
					results <- fmt.Sprintf("replay %d via %s: %d %s %v", i, r.name, code, body, err)
					return
				}
				var res struct{ Replayed int }
				_ = json.Unmarshal(body, &res)
				results <- fmt.Sprintf("ok %d", res.Replayed)
			}()
		}
		for range s.relays {
			if got := <-results; strings.HasPrefix(got, "ok ") {
				replays++
				var k int
				fmt.Sscanf(got, "ok %d", &k)
				replayed += k
			} else {
				t.Error(got)
			}
		}
	}
	sleepUntil(s.at(p.load, 0.75))
	faulty.Store(false)
	s.extra = append(s.extra, fmt.Sprintf("%d replays through both replicas during traffic, %d events replayed", replays, replayed))
	sleepUntil(s.at(p.load, 1))
	s.finish()
}

// TestChaosCredentialPauseWithOutage: the vendor refuses relay's
// credentials (1004), and inside that pause goes down (503 to everything).
// Probes answered 503 prove nothing: the vendor stays paused throughout
// (sampled from /admin/v1/stats), no event spends its budget or fails,
// and when the vendor accepts the credentials again every event goes
// through.
func TestChaosCredentialPauseWithOutage(t *testing.T) {
	var mode atomic.Int32 // 0 fine, 1 refuses, 2 down
	s := newScenario(t, "pause-outage", 1, func(string, int) *liasmarttest.Reply {
		switch mode.Load() {
		case 1:
			return &liasmarttest.Reply{Code: 1004}
		case 2:
			return &liasmarttest.Reply{Status: 503}
		}
		return nil
	}, "RELAY_PAUSE_PROBE=300ms", "RELAY_MAX_ATTEMPTS=3")
	p := s.plan
	s.startLoad()
	sleepUntil(s.at(p.load, 0.2))
	mode.Store(1)
	s.logf("vendor refuses the credentials (1004)")
	// Wait for the pause, then sample while the vendor goes down inside it.
	deadline := time.Now().Add(10 * time.Second)
	for !s.vendorPaused() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	sleepUntil(s.at(p.load, 0.4))
	mode.Store(2)
	s.logf("vendor down (503) inside the pause")
	samples, paused := 0, 0
	for time.Now().Before(s.at(p.load, 0.7)) {
		samples++
		if s.vendorPaused() {
			paused++
		}
		time.Sleep(100 * time.Millisecond)
	}
	mode.Store(1)
	sleepUntil(s.at(p.load, 0.8))
	mode.Store(0)
	s.logf("vendor accepts the credentials again")
	if paused != samples {
		t.Errorf("PROBE FLAPPING: the vendor was reported paused in %d of %d samples during the outage inside the pause", paused, samples)
	}
	s.extra = append(s.extra, fmt.Sprintf("credentials refused, vendor down inside the pause: paused in %d of %d stats samples", paused, samples))
	sleepUntil(s.at(p.load, 1))
	s.finish()
}

// vendorPaused reads /admin/v1/stats of the first replica.
func (s *scenario) vendorPaused() bool {
	code, body, err := s.admin(s.relays[0], "GET", "/admin/v1/stats", "")
	if err != nil || code != 200 {
		return false
	}
	var st struct {
		Vendors []struct {
			Vendor string `json:"vendor"`
			Paused bool   `json:"paused"`
		} `json:"vendors"`
	}
	if json.Unmarshal(body, &st) != nil {
		return false
	}
	for _, v := range st.Vendors {
		if v.Vendor == "liasmart" {
			return v.Paused
		}
	}
	return false
}

// TestChaosOutageLongerThanTheBudget: the vendor answers nothing for far
// longer than RELAY_MAX_ATTEMPTS retries take. The breaker pauses it as
// unavailable instead of failing the events; once it answers again every
// event is confirmed.
func TestChaosOutageLongerThanTheBudget(t *testing.T) {
	var down atomic.Bool
	s := newScenario(t, "long-outage", 1, func(string, int) *liasmarttest.Reply {
		if down.Load() {
			return &liasmarttest.Reply{Status: 503}
		}
		return nil
	}, "RELAY_MAX_ATTEMPTS=3", "RELAY_PAUSE_PROBE=500ms", "RELAY_BREAKER_THRESHOLD=20")
	p := s.plan
	s.startLoad()
	sleepUntil(s.at(p.load, 0.15))
	down.Store(true)
	start := time.Now()
	s.logf("vendor down (503 to everything)")
	sleepUntil(s.at(p.load, 0.8))
	down.Store(false)
	s.logf("vendor up again after %.1fs", time.Since(start).Seconds())
	s.extra = append(s.extra, fmt.Sprintf("vendor down %.1fs with RELAY_MAX_ATTEMPTS=3 (retries 50ms-1s)", time.Since(start).Seconds()))
	sleepUntil(s.at(p.load, 1))
	s.finish()
}

// TestChaosPauseOutlivesTheBus: relay runs without vendor credentials, so
// every event waits paused (its message acked: PostgreSQL holds it); then
// the registrations stream loses whatever it still had (as
// RELAY_STREAM_MAX_AGE would after a long pause, or a purge); relay
// restarts with credentials. PostgreSQL re-drives what it owes:
// every event is confirmed.
func TestChaosPauseOutlivesTheBus(t *testing.T) {
	s := newScenario(t, "pause-bus", 1, nil, "RELAY_LIASMART_API_ID=", "RELAY_LIASMART_API_PASSWORD=")
	p := s.plan
	s.startLoad()
	sleepUntil(s.at(p.load, 1))
	s.gen.halt()
	accepted := s.gen.acceptedIDs()
	// Every accepted event reaches PostgreSQL (paused) before the bus
	// loses it; ingest alone stores nothing.
	deadline := time.Now().Add(p.drain)
	for {
		snap, err := s.snapshot()
		if err == nil {
			in := 0
			for id := range accepted {
				if _, ok := snap.rows[id]; ok {
					in++
				}
			}
			if in == len(accepted) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("accepted events not all in PostgreSQL after %s", p.drain)
		}
		time.Sleep(100 * time.Millisecond)
	}
	purged := s.purgeRegistrations()
	s.logf("registrations stream purged (%d messages)", purged)
	r := s.relays[0]
	if _, err := r.stopGracefully(shutdownLimit); err != nil {
		t.Error(err)
	}
	r.env = append(r.env, "RELAY_LIASMART_API_ID=chaos", "RELAY_LIASMART_API_PASSWORD="+s.vendorPW)
	// Not s.restart: the load is over, so there is no first 202 to time.
	if _, err := r.start(); err != nil {
		t.Fatal(err)
	}
	s.restarts++
	s.logf("%s restarted with credentials", r.name)
	s.extra = append(s.extra, fmt.Sprintf("%d events accepted without credentials, the bus purged (%d messages), relay restarted with credentials", len(accepted), purged))
	s.finish()
}

// purgeRegistrations empties the registrations stream and returns how many
// messages it held.
func (s *scenario) purgeRegistrations() uint64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(s.natsURL(), nats.Timeout(2*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil {
		s.t.Fatal(err)
	}
	return info.State.Msgs
}
