package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/bus/asyncapitest"
	"relay/internal/outbox"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/liasmart/liasmarttest"
)

type bundle struct {
	st       *store.Store
	bus      *bus.Bus
	consumer jetstream.Consumer
	fake     *liasmarttest.Fake
	client   *liasmart.Client
	fakeURL  string

	mu            sync.Mutex
	outcomes      map[string]string // message_id -> outcome subject
	confirmations map[string][]byte // message_id -> the last outcome's payload
	alerts        []bus.Alert
}

// setup gives a test its own database, NATS server and fake CTrack, and
// subscribes to the outcome and alert subjects.
func setup(t *testing.T, fakeOpts liasmarttest.Options, ackWait time.Duration) *bundle {
	t.Helper()
	st, _ := testenv.Store(t)
	ns := testenv.NATS(t)
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	consumer, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{Vendor: "liasmart", AckWait: ackWait, MaxAckPending: 1000})
	if err != nil {
		t.Fatal(err)
	}
	fake, srv := liasmarttest.NewServer(t, fakeOpts)
	bd := &bundle{st: st, bus: b, consumer: consumer, fake: fake, outcomes: map[string]string{}, confirmations: map[string][]byte{}, fakeURL: srv.URL,
		client: liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: "id", APIPassword: "pw", Timeout: time.Second})}
	sub, err := b.Conn.Subscribe("relay.>", func(m *nats.Msg) {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		switch {
		case len(m.Subject) > len("relay.confirmations.") && m.Subject[:len("relay.confirmations.")] == "relay.confirmations.":
			asyncapitest.Validate(t, m)
			var c bus.Confirmation
			if err := json.Unmarshal(m.Data, &c); err != nil {
				t.Errorf("bad confirmation payload: %v", err)
			}
			bd.outcomes[c.MessageID] = m.Subject
			bd.confirmations[c.MessageID] = m.Data
		case m.Subject == bus.AlertSubject("liasmart"):
			asyncapitest.Validate(t, m)
			var a bus.Alert
			_ = json.Unmarshal(m.Data, &a)
			bd.alerts = append(bd.alerts, a)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return bd
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (bd *bundle) config(mod func(*Config)) Config {
	cfg := Config{
		Confirmers:    map[string]Confirmer{"liasmart": bd.client},
		MaxAttempts:   4,
		Backoff:       Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		PauseProbe:    200 * time.Millisecond,
		Concurrency:   16,
		Batch:         50,
		StatusRefresh: 50 * time.Millisecond,
		VendorTimeout: time.Second, // the client's
		Lease:         3 * time.Second,
		Logger:        quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

// start runs a worker until the test ends or stop is called, with what
// runs beside it in a process: the outbox publisher and the reconciler
// (short intervals).
func (bd *bundle) start(t *testing.T, cfg Config, hook func(context.Context) error) (stop func()) {
	t.Helper()
	pub := outbox.NewPublisher(bd.st, bd.bus.JS, quietLogger())
	cfg.Nudge = pub.Nudge
	w := NewWorker(cfg, bd.st, bd.bus.JS, bd.consumer)
	w.beforeCommit = hook
	var vendors []string
	for v, c := range cfg.Confirmers {
		if c != nil {
			vendors = append(vendors, v)
		}
	}
	rec := NewReconciler(ReconcilerConfig{Vendors: vendors, Interval: 50 * time.Millisecond, Grace: 2 * time.Second,
		Probe: cfg.PauseProbe, Holder: uuid.NewString(), Nudge: pub.Nudge, Logger: quietLogger()}, bd.st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); pub.Run(ctx, 50*time.Millisecond) }()
	go func() { defer loops.Done(); rec.Run(ctx) }()
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
			loops.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

func (bd *bundle) publish(t *testing.T, messageIDs ...string) map[string]uuid.UUID {
	t.Helper()
	ids := map[string]uuid.UUID{}
	for _, m := range messageIDs {
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+m))
		ids[m] = id
		data, _ := json.Marshal(bus.Registration{ID: id.String(), Vendor: "liasmart", MessageID: m, ReceivedAt: time.Now()})
		if _, err := bd.bus.JS.Publish(context.Background(), bus.RegistrationSubject("liasmart"), data, jetstream.WithMsgID(id.String())); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (bd *bundle) waitState(t *testing.T, id uuid.UUID, want store.State) store.Event {
	t.Helper()
	var e store.Event
	testenv.Eventually(t, 10*time.Second, "event "+id.String()+" to become "+string(want), func() bool {
		var err error
		e, err = bd.st.Event(context.Background(), id)
		return err == nil && e.State == want
	})
	return e
}

func (bd *bundle) outcome(messageID string) string {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return bd.outcomes[messageID]
}

func TestWorkerOutcomes(t *testing.T) {
	t.Parallel()
	script := func(msg string, _ int) *liasmarttest.Reply {
		return nil
	}
	var calls sync.Map // message_id -> *atomic.Int32
	bd := setup(t, liasmarttest.Options{Script: func(msg string, n int) *liasmarttest.Reply {
		c, _ := calls.LoadOrStore(msg, new(atomic.Int32))
		k := c.(*atomic.Int32).Add(1)
		switch {
		case msg == "first-1009":
			return &liasmarttest.Reply{Code: 1009}
		case msg == "invalid" && k == 1:
			return &liasmarttest.Reply{Code: 1008}
		case msg == "flaky" && k == 1:
			return &liasmarttest.Reply{Status: 503}
		case msg == "garbage" && k == 1:
			return &liasmarttest.Reply{Body: "<html>"}
		case msg == "undocumented" && k == 1:
			return &liasmarttest.Reply{Code: 1042}
		case msg == "down":
			return &liasmarttest.Reply{Status: 502}
		}
		return script(msg, n)
	}}, 30*time.Second)
	bd.start(t, bd.config(nil), nil)
	ids := bd.publish(t, "ok", "first-1009", "invalid", "flaky", "garbage", "undocumented", "down")

	cases := []struct {
		msg      string
		state    store.State
		attempts int
		code     *int
	}{
		{"ok", store.StateConfirmed, 1, ptr(1000)},
		{"first-1009", store.StateAlreadyConfirmed, 1, ptr(1009)},
		{"invalid", store.StateFailed, 1, ptr(1008)},
		{"flaky", store.StateConfirmed, 2, ptr(1000)},
		{"garbage", store.StateConfirmed, 2, ptr(1000)},
		{"undocumented", store.StateConfirmed, 2, ptr(1000)},
		{"down", store.StateFailed, 4, nil},
	}
	for _, c := range cases {
		e := bd.waitState(t, ids[c.msg], c.state)
		if e.Attempts != c.attempts {
			t.Errorf("%s: %d attempts, want %d", c.msg, e.Attempts, c.attempts)
		}
		if (e.VendorCode == nil) != (c.code == nil) || (c.code != nil && *e.VendorCode != *c.code) {
			t.Errorf("%s: vendor_code %v, want %v", c.msg, derefInt(e.VendorCode), derefInt(c.code))
		}
		attempts, err := bd.st.Attempts(context.Background(), ids[c.msg])
		if err != nil || len(attempts) != c.attempts {
			t.Errorf("%s: %d attempt rows (err %v), want %d", c.msg, len(attempts), err, c.attempts)
		}
		if got := bd.fake.CallsFor(c.msg); got != c.attempts {
			t.Errorf("%s: fake saw %d calls, want %d", c.msg, got, c.attempts)
		}
		want := "relay.confirmations.liasmart." + string(c.state)
		testenv.Eventually(t, 5*time.Second, "outcome event for "+c.msg, func() bool { return bd.outcome(c.msg) == want })
	}
	// The "flaky" event recorded its 503 before the success.
	attempts, _ := bd.st.Attempts(context.Background(), ids["flaky"])
	if len(attempts) == 2 && (attempts[0].HTTPStatus == nil || *attempts[0].HTTPStatus != 503 || attempts[0].Outcome != "retry") {
		t.Errorf("first flaky attempt %+v, want HTTP 503 retry", attempts[0])
	}
	for msg, n := range bd.fake.ConfirmedIDs() {
		if n > 1 {
			t.Errorf("%s confirmed %d times", msg, n)
		}
	}
}

func TestWorkerPausesOnRejectedCredentialsAndResumes(t *testing.T) {
	t.Parallel()
	var rejecting atomic.Bool
	rejecting.Store(true)
	bd := setup(t, liasmarttest.Options{Script: func(string, int) *liasmarttest.Reply {
		if rejecting.Load() {
			return &liasmarttest.Reply{Code: 1004}
		}
		return nil
	}}, 30*time.Second)
	bd.start(t, bd.config(func(c *Config) { c.PauseProbe = time.Hour }), nil)
	ids := bd.publish(t, "p1", "p2", "p3")
	for _, m := range []string{"p1", "p2", "p3"} {
		e := bd.waitState(t, ids[m], store.StatePaused)
		if e.BudgetUsed != 0 {
			t.Errorf("%s spent %d of its budget while paused", m, e.BudgetUsed)
		}
	}
	testenv.Eventually(t, 5*time.Second, "one credentials alert", func() bool {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		return len(bd.alerts) == 1 && bd.alerts[0].Kind == "credentials_rejected"
	})
	statuses, err := bd.st.VendorStatuses(context.Background())
	if err != nil || len(statuses) != 1 || !statuses[0].Paused {
		t.Fatalf("vendor status %+v, %v; want liasmart paused", statuses, err)
	}
	// The alert is also in the outbox, written with the pause, so a failed
	// publish is delivered later under the same message id.
	var outboxed int
	if err := bd.st.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM outbox WHERE subject = 'relay.alerts.liasmart' AND msg_id LIKE 'alert:%'`).Scan(&outboxed); err != nil || outboxed != 1 {
		t.Errorf("outbox holds %d credentials alerts (err %v), want 1", outboxed, err)
	}
	// No more than one call per batch reaches a paused vendor: the first
	// rejection pauses the rest of the batch's calls in flight at most.
	calls := len(bd.fake.Calls())

	// Credentials fixed and the vendor resumed by an operator: the paused
	// events are requeued and go through at once, not after PauseProbe.
	rejecting.Store(false)
	change, err := bd.st.ResumeVendor(context.Background(), "liasmart", bus.RegistrationSubject("liasmart"), "resume:test",
		AlertMessages("liasmart", "", nil, time.Hour, time.Now()))
	if err != nil || change == nil || change.Redriven != 3 {
		t.Fatalf("resume: %+v, %v; want 3 events re-driven", change, err)
	}
	for _, m := range []string{"p1", "p2", "p3"} {
		bd.waitState(t, ids[m], store.StateConfirmed)
	}
	if calls > 3 {
		t.Errorf("%d calls while paused, want at most one per event", calls)
	}
	// One alert for the pause, one for the resume.
	testenv.Eventually(t, 5*time.Second, "the credentials_accepted alert", func() bool {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		return len(bd.alerts) == 2 && bd.alerts[1].Kind == "credentials_accepted"
	})
	bd.mu.Lock()
	n := len(bd.alerts)
	bd.mu.Unlock()
	if n != 2 {
		t.Errorf("%d alerts, want exactly one per pause and one per resume", n)
	}
}

func TestWorkerProbeResumesPausedVendor(t *testing.T) {
	t.Parallel()
	var rejecting atomic.Bool
	rejecting.Store(true)
	bd := setup(t, liasmarttest.Options{Script: func(string, int) *liasmarttest.Reply {
		if rejecting.Load() {
			return &liasmarttest.Reply{Code: 1003}
		}
		return nil
	}}, 30*time.Second)
	bd.start(t, bd.config(nil), nil)
	ids := bd.publish(t, "q1")
	bd.waitState(t, ids["q1"], store.StatePaused)
	rejecting.Store(false)
	e := bd.waitState(t, ids["q1"], store.StateConfirmed)
	if e.BudgetUsed != 0 {
		t.Errorf("budget used %d, want 0 (a probe, even the successful one, spends no budget)", e.BudgetUsed)
	}
	testenv.Eventually(t, 5*time.Second, "resume alert", func() bool {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		return len(bd.alerts) == 2 && bd.alerts[1].Kind == "credentials_accepted"
	})
}

// TestCrashBetweenVendorCallAndCommit stops a worker after the vendor
// confirmed an event but before PostgreSQL recorded it. The message is not
// acked, so it comes back; the next call gets 1009 and the event ends a
// success with exactly one 1000 at the vendor.
func TestCrashBetweenVendorCallAndCommit(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, time.Second)
	crashed := make(chan struct{})
	var once sync.Once
	stop := bd.start(t, bd.config(nil), func(context.Context) error {
		once.Do(func() { close(crashed) })
		return errors.New("simulated crash")
	})
	ids := bd.publish(t, "c1")
	select {
	case <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("worker never reached the commit")
	}
	stop()
	if n := bd.fake.Confirmations("c1"); n != 1 {
		t.Fatalf("vendor confirmations before restart: %d, want 1", n)
	}
	if _, err := bd.st.Event(context.Background(), ids["c1"]); err != nil {
		t.Fatalf("event should be recorded (pending) before the crash: %v", err)
	}

	bd.start(t, bd.config(nil), nil)
	e := bd.waitState(t, ids["c1"], store.StateAlreadyConfirmed)
	if n := bd.fake.Confirmations("c1"); n != 1 {
		t.Errorf("vendor confirmations: %d, want exactly 1", n)
	}
	if got := bd.fake.CallsFor("c1"); got != 2 {
		t.Errorf("vendor calls: %d, want 2 (the lost one and the repeat)", got)
	}
	if e.Attempts != 1 {
		t.Errorf("attempts recorded: %d, want 1 (the crashed call never committed)", e.Attempts)
	}
}

func TestDuplicateMessagesCallOnce(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	// The same event published under three message ids (as after the
	// dedup window, or by a replay) before the worker starts.
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:d1"))
	data, _ := json.Marshal(bus.Registration{ID: id.String(), Vendor: "liasmart", MessageID: "d1"})
	for i := range 3 {
		if _, err := bd.bus.JS.Publish(context.Background(), bus.RegistrationSubject("liasmart"), data,
			jetstream.WithMsgID(id.String()+":"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	bd.start(t, bd.config(nil), nil)
	bd.waitState(t, id, store.StateConfirmed)
	testenv.Eventually(t, 5*time.Second, "all messages acked", func() bool {
		info, err := bd.consumer.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if got := bd.fake.CallsFor("d1"); got != 1 {
		t.Errorf("vendor calls %d, want 1", got)
	}
}

// confirmerFunc is a Confirmer in a function.
type confirmerFunc func(context.Context, confirm.Conversion) (confirm.Answer, error)

func (f confirmerFunc) Confirm(ctx context.Context, c confirm.Conversion) (confirm.Answer, error) {
	return f(ctx, c)
}

// TestWorkerRecordsTheVendorsStatus: vendor_status is the last answer's
// code or status as the vendor wrote it, in PostgreSQL and in the outcome
// on NATS; vendor_code only where that is a number.
func TestWorkerRecordsTheVendorsStatus(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{Script: func(msg string, _ int) *liasmarttest.Reply {
		switch msg {
		case "down":
			return &liasmarttest.Reply{Status: 503}
		case "huge":
			return liasmarttest.HugeCode()
		}
		return nil
	}}, 30*time.Second)
	// A vendor whose codes are words (AWS's ValidationException) beside
	// CTrack's numbers.
	words := confirmerFunc(func(ctx context.Context, c confirm.Conversion) (confirm.Answer, error) {
		if c.MessageID == "word" {
			return confirm.Answer{Outcome: confirm.Permanent, Status: "ValidationException", Meaning: "unknown message", HTTPStatus: 400}, nil
		}
		return bd.client.Confirm(ctx, c)
	})
	bd.start(t, bd.config(func(c *Config) { c.Confirmers = map[string]Confirmer{"liasmart": words} }), nil)
	ids := bd.publish(t, "coded", "down", "word", "huge")
	for _, c := range []struct {
		msg    string
		state  store.State
		code   *int
		status string
	}{
		{"coded", store.StateConfirmed, ptr(1000), "1000"},
		{"down", store.StateFailed, nil, "HTTP 503"},
		{"word", store.StateFailed, nil, "ValidationException"},
		// An undocumented code no integer column holds, retried until the
		// budget is spent.
		{"huge", store.StateFailed, nil, "99999999999"},
	} {
		e := bd.waitState(t, ids[c.msg], c.state)
		if fmt.Sprint(derefInt(e.VendorCode)) != fmt.Sprint(derefInt(c.code)) || e.VendorStatus == nil || *e.VendorStatus != c.status {
			t.Errorf("%s: vendor_code %v vendor_status %v; want %v %q", c.msg, derefInt(e.VendorCode), e.VendorStatus, derefInt(c.code), c.status)
		}
		attempts, err := bd.st.Attempts(context.Background(), ids[c.msg])
		if err != nil || len(attempts) == 0 {
			t.Fatalf("%s: attempts %v (%v)", c.msg, attempts, err)
		}
		for _, a := range attempts {
			if a.VendorStatus != c.status {
				t.Errorf("%s: attempt %d vendor_status %q, want %q", c.msg, a.Attempt, a.VendorStatus, c.status)
			}
		}
		var payload map[string]any
		testenv.Eventually(t, 5*time.Second, "outcome event for "+c.msg, func() bool {
			bd.mu.Lock()
			defer bd.mu.Unlock()
			return json.Unmarshal(bd.confirmations[c.msg], &payload) == nil
		})
		var wantCode any
		if c.code != nil {
			wantCode = float64(*c.code)
		}
		if code, ok := payload["vendor_code"]; !ok || code != wantCode || payload["vendor_status"] != c.status {
			t.Errorf("%s: outcome payload vendor_code %v (present %v) vendor_status %v; want %v %q", c.msg, code, ok,
				payload["vendor_status"], wantCode, c.status)
		}
	}
}

func ptr(n int) *int { return &n }

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
