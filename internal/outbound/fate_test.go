package outbound

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// TestOutageFailsNoEvent: a vendor that answers nothing, for longer than
// the retry budget, leaves its events paused (budget kept) behind an
// unavailable pause; when it answers again the probe resumes it and every
// event is confirmed.
func TestOutageFailsNoEvent(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	bd := setup(t, liasmarttest.Options{Script: func(string, int) *liasmarttest.Reply {
		if down.Load() {
			return &liasmarttest.Reply{Status: 503}
		}
		return nil
	}}, 30*time.Second)
	bd.start(t, bd.config(func(c *Config) { c.MaxAttempts = 2; c.BreakerThreshold = 20 }), nil)
	ids := bd.publish(t, "o1", "o2", "o3")
	for _, m := range []string{"o1", "o2", "o3"} {
		e := bd.waitState(t, ids[m], store.StatePaused)
		if e.BudgetUsed >= 2 {
			t.Errorf("%s spent its whole budget (%d) in an outage", m, e.BudgetUsed)
		}
	}
	statuses, err := bd.st.VendorStatuses(context.Background())
	if err != nil || len(statuses) != 1 || !statuses[0].Paused || statuses[0].Kind != store.PauseUnavailable {
		t.Fatalf("vendor status %+v, %v; want paused as unavailable", statuses, err)
	}
	down.Store(false)
	for _, m := range []string{"o1", "o2", "o3"} {
		bd.waitState(t, ids[m], store.StateConfirmed)
	}
	testenv.Eventually(t, 5*time.Second, "vendor_unavailable then vendor_available", func() bool {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		return len(bd.alerts) == 2 && bd.alerts[0].Kind == "vendor_unavailable" && bd.alerts[1].Kind == "vendor_available"
	})
	if o := bd.fake.Overlaps(); len(o) != 0 {
		t.Errorf("calls overlapped for %v", o)
	}
}

// TestProbeWithoutAnswerKeepsThePause: during a credentials pause the
// vendor goes down; probes answered 503 prove nothing, so the vendor stays
// paused (for credentials) until a probe gets an ErrorCode.
func TestProbeWithoutAnswerKeepsThePause(t *testing.T) {
	t.Parallel()
	var mode atomic.Int32 // 0 refuse, 1 down, 2 fine
	bd := setup(t, liasmarttest.Options{Script: func(string, int) *liasmarttest.Reply {
		switch mode.Load() {
		case 0:
			return &liasmarttest.Reply{Code: 1004}
		case 1:
			return &liasmarttest.Reply{Status: 503}
		}
		return nil
	}}, 30*time.Second)
	bd.start(t, bd.config(func(c *Config) { c.PauseProbe = 100 * time.Millisecond }), nil)
	ids := bd.publish(t, "f1")
	bd.waitState(t, ids["f1"], store.StatePaused)
	mode.Store(1)
	calls := len(bd.fake.Calls())
	testenv.Eventually(t, 10*time.Second, "three failed probes", func() bool { return len(bd.fake.Calls()) >= calls+3 })
	statuses, err := bd.st.VendorStatuses(context.Background())
	if err != nil || len(statuses) != 1 || !statuses[0].Paused || statuses[0].Kind != store.PauseCredentials {
		t.Fatalf("after probes answered 503: %+v, %v; want still paused for credentials", statuses, err)
	}
	e, _ := bd.st.Event(context.Background(), ids["f1"])
	if e.State != store.StatePaused || e.BudgetUsed != 0 {
		t.Fatalf("event %s budget %d, want paused with its budget whole", e.State, e.BudgetUsed)
	}
	mode.Store(2)
	bd.waitState(t, ids["f1"], store.StateConfirmed)
}

// TestPausedEventOutlivesItsMessage: an event PostgreSQL holds as paused,
// with no message left on the bus (expired, or accepted while relay had no
// credentials), is sent back to the workers from PostgreSQL and confirmed.
func TestPausedEventOutlivesItsMessage(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	ctx := context.Background()
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:stranded"))
	if _, err := bd.st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: "stranded"}}); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Hour)
	if _, err := RecordResults(ctx, bd.st, []store.Result{{EventID: id, State: store.StatePaused, NextAttemptAt: &next,
		LastError: "vendor paused: credentials not configured"}}); err != nil {
		t.Fatal(err)
	}
	bd.start(t, bd.config(nil), nil)
	e := bd.waitState(t, id, store.StateConfirmed)
	if e.Attempts != 1 || bd.fake.CallsFor("stranded") != 1 {
		t.Errorf("attempts %d, vendor calls %d; want one each", e.Attempts, bd.fake.CallsFor("stranded"))
	}
}

// TestTwoWorkersNeverOverlap: two workers (replicas) share the consumer;
// every event is published three times under different message ids, and
// the vendor is slow. No message_id ever has two calls in flight.
func TestTwoWorkersNeverOverlap(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{Latency: 30 * time.Millisecond}, 30*time.Second)
	bd.start(t, bd.config(nil), nil)
	bd.start(t, bd.config(nil), nil)
	var ids []uuid.UUID
	for i := range 40 {
		m := "ov-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+m))
		ids = append(ids, id)
		data, _ := json.Marshal(bus.Registration{ID: id.String(), Vendor: "liasmart", MessageID: m})
		for copy := range 3 {
			if _, err := bd.bus.JS.Publish(context.Background(), bus.RegistrationSubject("liasmart"), data,
				jetstream.WithMsgID(id.String()+":"+string(rune('0'+copy)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range ids {
		bd.waitState(t, id, store.StateConfirmed)
	}
	if o := bd.fake.Overlaps(); len(o) != 0 {
		t.Fatalf("two calls in flight at once for %v", o)
	}
	for m, n := range bd.fake.ConfirmedIDs() {
		if n != 1 {
			t.Errorf("%s confirmed %d times", m, n)
		}
	}
}

// TestAbortEndsBatchesInHand: a shutdown whose timeout ran out aborts the
// batches in hand (a vendor that never answers); Run then returns.
func TestAbortEndsBatchesInHand(t *testing.T) {
	t.Parallel()
	var arrived atomic.Bool
	bd := setup(t, liasmarttest.Options{Script: func(string, int) *liasmarttest.Reply {
		arrived.Store(true)
		return &liasmarttest.Reply{Delay: time.Hour}
	}}, 30*time.Second)
	w := NewWorker(bd.config(func(c *Config) { c.VendorTimeout = time.Hour; c.Lease = 2 * time.Hour }), bd.st, bd.bus.JS, bd.consumer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	bd.publish(t, "stuck")
	testenv.Eventually(t, 10*time.Second, "the call to reach the vendor", arrived.Load)
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned with a batch in hand and no abort")
	case <-time.After(200 * time.Millisecond):
	}
	w.Abort()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Abort")
	}
}

// TestOutcomePublishWaitsOneDeadline: outcome acks that never come are
// given up together when the batch's deadline passes (a fired timer used
// to leave the rest waiting forever).
func TestOutcomePublishWaitsOneDeadline(t *testing.T) {
	t.Parallel()
	w := NewWorker(Config{Logger: quietLogger()}, nil, silentJS{}, nil)
	w.publishTimeout = 50 * time.Millisecond
	items := map[uuid.UUID]*item{}
	var order []uuid.UUID
	for range 3 {
		id := uuid.New()
		items[id] = &item{ack: true, event: store.Event{ID: id, Vendor: "liasmart", State: store.StateConfirmed}}
		order = append(order, id)
	}
	done := make(chan struct{})
	go func() { w.publishOutcomes(context.Background(), items, order); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishOutcomes still waiting long after its deadline")
	}
	for _, id := range order {
		if items[id].ack {
			t.Errorf("event %s acked without its outcome stored", id)
		}
	}
}

// silentJS is a JetStream whose publishes are never acknowledged.
type silentJS struct{ jetstream.JetStream }

func (silentJS) PublishAsync(string, []byte, ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	return silentFuture{}, nil
}

type silentFuture struct{ jetstream.PubAckFuture }

func (silentFuture) Ok() <-chan *jetstream.PubAck { return nil }
func (silentFuture) Err() <-chan error            { return nil }
