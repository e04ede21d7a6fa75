package monitor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/bus/asyncapitest"
	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/testenv"
)

// clock is a settable clock for leases, backoff and expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// bundle is one test's PostgreSQL, NATS (with the RELAY stream), metrics
// and clock.
type bundle struct {
	st    *store.Store
	js    jetstream.JetStream
	m     *metrics.Metrics
	clock *clock
}

func setup(t *testing.T) *bundle {
	t.Helper()
	st, _ := testenv.Store(t)
	ns := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: quiet(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	return &bundle{st: st, js: b.JS, m: metrics.New(), clock: newClock()}
}

// stored returns the payloads stored in the RELAY stream on subject.
func (b *bundle) stored(t *testing.T, subject string) [][]byte {
	t.Helper()
	msgs := testenv.StoredMsgs(t, b.js, subject)
	asyncapitest.ValidateStored(t, msgs...)
	var out [][]byte
	for _, m := range msgs {
		out = append(out, m.Data)
	}
	return out
}

// alerts decodes the alerts stored on relay.alerts.<vendor>.
func (b *bundle) alerts(t *testing.T, vendor string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, raw := range b.stored(t, bus.AlertSubject(vendor)) {
		var a map[string]any
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("alert %s: %v", raw, err)
		}
		out = append(out, a)
	}
	return out
}

func kinds(alerts []map[string]any) []string {
	var out []string
	for _, a := range alerts {
		k, _ := a["kind"].(string)
		out = append(out, k)
	}
	return out
}

// series returns the value of each series of the metric family name in
// m's registry, keyed by its label values joined with "/", the vendor
// first ("laaffic/balance").
func series(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			// The vendor first, then the other labels' values.
			var key []string
			for _, l := range s.GetLabel() {
				if l.GetName() == "vendor" {
					key = append([]string{l.GetValue()}, key...)
				} else {
					key = append(key, l.GetValue())
				}
			}
			v := s.GetGauge().GetValue()
			if c := s.GetCounter(); c != nil {
				v = c.GetValue()
			}
			out[strings.Join(key, "/")] = v
		}
	}
	return out
}
