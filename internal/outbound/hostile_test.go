package outbound

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/liasmart/liasmarttest"
)

const hostilePassword = "Sup3r-Secret-Passw0rd-of-CTrack"

// readable fails the test if stored text could not be shown to a client
// as it is: invalid UTF-8, a NUL, the password or a piece of it.
func readable(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		t.Errorf("%s: %q is not valid UTF-8 without NUL", what, s)
	}
	for _, frag := range []string{hostilePassword, hostilePassword[:12], hostilePassword[len(hostilePassword)-12:]} {
		if strings.Contains(s, frag) {
			t.Errorf("%s: %q holds the password", what, s)
		}
	}
}

// TestWorkerRecordsHostileAnswers: one batch in which each event's first
// call gets one of the hostile answers and the others a plain success. The
// batch commits: the plain events are confirmed at once; each hostile one
// has its attempt recorded with a readable error, is retried on its
// schedule (not in a hot loop) and confirmed by its second call.
func TestWorkerRecordsHostileAnswers(t *testing.T) {
	t.Parallel()
	hostile := liasmarttest.Hostile(hostilePassword)
	var calls sync.Map // message_id -> *atomic.Int32
	bd := setup(t, liasmarttest.Options{Script: func(msg string, _ int) *liasmarttest.Reply {
		c, _ := calls.LoadOrStore(msg, new(atomic.Int32))
		if c.(*atomic.Int32).Add(1) == 1 {
			return hostile[msg]
		}
		return nil
	}}, 30*time.Second)
	bd.client = liasmart.New(liasmart.Config{BaseURL: bd.fakeURL, APIID: "API4623444906", APIPassword: hostilePassword, Timeout: time.Second})
	var names []string
	for name := range hostile {
		names = append(names, name)
	}
	plain := []string{"plain-1", "plain-2", "plain-3"}
	ids := bd.publish(t, append(names, plain...)...)
	bd.start(t, bd.config(func(c *Config) { c.Backoff = Backoff{Base: 200 * time.Millisecond, Max: 200 * time.Millisecond} }), nil)

	for _, m := range plain {
		if e := bd.waitState(t, ids[m], store.StateConfirmed); e.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1", m, e.Attempts)
		}
	}
	for _, name := range names {
		var attempts []store.Attempt
		testenv.Eventually(t, 10*time.Second, name+"'s first attempt recorded", func() bool {
			var err error
			attempts, err = bd.st.Attempts(context.Background(), ids[name])
			return err == nil && len(attempts) >= 1
		})
		a := attempts[0]
		if a.Outcome != "retry" || a.Error == "" {
			t.Errorf("%s: first attempt %+v, want a retry with its error", name, a)
		}
		readable(t, name+" attempt error", a.Error)
		e := bd.waitState(t, ids[name], store.StateConfirmed)
		if e.Attempts != 2 {
			t.Errorf("%s: %d attempts, want 2 (the hostile answer, then the success)", name, e.Attempts)
		}
		if n := bd.fake.CallsFor(name); n != e.Attempts {
			t.Errorf("%s: the vendor got %d calls for %d recorded attempts", name, n, e.Attempts)
		}
	}
	// Whatever a client reads of the events, with what made it fail.
	for _, name := range names {
		attempts, _ := bd.st.Attempts(context.Background(), ids[name])
		for _, a := range attempts {
			readable(t, name, a.Error)
		}
	}
	if o := bd.fake.Overlaps(); len(o) != 0 {
		t.Errorf("calls overlapped for %v", o)
	}
}

// panicking panics in Confirm for one message_id, on its first call.
type panicking struct {
	next   Confirmer
	msg    string
	called atomic.Int32
}

func (p *panicking) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if conv.MessageID == p.msg && p.called.Add(1) == 1 {
		// Whatever a panic carries, its text is stored too.
		panic("client bug\x00 at byte \xff")
	}
	return p.next.Confirm(ctx, conv)
}

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// stack returns the stack attribute of the first record whose message
// starts with prefix, "" when there is none.
func (r *records) stack(prefix string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if !strings.HasPrefix(rec.Message, prefix) {
			continue
		}
		var stack string
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "stack" {
				stack = a.Value.String()
			}
			return true
		})
		return stack
	}
	return ""
}

// TestWorkerSurvivesAPanickingConfirmer: the panic fails its own call,
// as a transient failure with an attempt recorded and a stack logged; the
// batch's other events are confirmed, and so are later batches.
func TestWorkerSurvivesAPanickingConfirmer(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	logs := &records{}
	p := &panicking{next: bd.client, msg: "boom"}
	ids := bd.publish(t, "boom", "calm-1", "calm-2")
	bd.start(t, bd.config(func(c *Config) {
		c.Confirmers = map[string]Confirmer{"liasmart": p}
		c.Logger = slog.New(logs)
	}), nil)
	for _, m := range []string{"calm-1", "calm-2"} {
		bd.waitState(t, ids[m], store.StateConfirmed)
	}
	e := bd.waitState(t, ids["boom"], store.StateConfirmed)
	attempts, err := bd.st.Attempts(context.Background(), ids["boom"])
	if err != nil || len(attempts) != 2 || e.Attempts != 2 {
		t.Fatalf("boom: %d attempts (%v), %d counted; want 2: the panic, then the success", len(attempts), err, e.Attempts)
	}
	if a := attempts[0]; a.Outcome != "retry" || !strings.HasPrefix(a.Error, "panic: client bug") || a.HTTPStatus != nil {
		t.Errorf("boom's first attempt %+v, want a retry with error panic: ...", a)
	}
	readable(t, "boom's first attempt", attempts[0].Error)
	if s := logs.stack("vendor client panicked"); !strings.Contains(s, "(*panicking).Confirm") {
		t.Errorf("the panic's log record has stack %q, want one naming the Confirm that panicked", s)
	}
	later := bd.publish(t, "after-the-panic")
	bd.waitState(t, later["after-the-panic"], store.StateConfirmed)
}

// TestWorkerSurvivesAPanicInABatch: a panic outside the vendor call
// abandons that batch as a crash would; its messages come back after
// AckWait and the worker, still running, finishes them and the next.
func TestWorkerSurvivesAPanicInABatch(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, time.Second)
	logs := &records{}
	var once atomic.Bool
	bd.start(t, bd.config(func(c *Config) { c.Logger = slog.New(logs) }), func(context.Context) error {
		if once.CompareAndSwap(false, true) {
			panic("in the middle of a batch")
		}
		return nil
	})
	ids := bd.publish(t, "crashed")
	// The panicked batch's call reached the vendor; the redelivery gets 1009.
	bd.waitState(t, ids["crashed"], store.StateAlreadyConfirmed)
	if s := logs.stack("panic while processing a batch"); !strings.Contains(s, "TestWorkerSurvivesAPanicInABatch") {
		t.Errorf("the batch panic's stack %q does not name where it happened", s)
	}
	later := bd.publish(t, "next")
	bd.waitState(t, later["next"], store.StateConfirmed)
}

// TestWorkerTerminatesARegistrationPostgreSQLRefuses: a registration
// whose metadata PostgreSQL cannot hold (a \u0000 in jsonb) is terminated
// alone; the rest of its batch is confirmed.
func TestWorkerTerminatesARegistrationPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 30*time.Second)
	bad := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:nul-metadata"))
	data, _ := json.Marshal(bus.Registration{ID: bad.String(), Vendor: "liasmart", MessageID: "nul-metadata",
		Metadata: json.RawMessage(`{"note":"\u0000"}`)})
	if _, err := bd.bus.JS.Publish(context.Background(), bus.RegistrationSubject("liasmart"), data, jetstream.WithMsgID(bad.String())); err != nil {
		t.Fatal(err)
	}
	ids := bd.publish(t, "beside-1", "beside-2")
	bd.start(t, bd.config(nil), nil)
	for _, m := range []string{"beside-1", "beside-2"} {
		bd.waitState(t, ids[m], store.StateConfirmed)
	}
	testenv.Eventually(t, 10*time.Second, "every message acked or terminated", func() bool {
		info, err := bd.consumer.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if _, err := bd.st.Event(context.Background(), bad); err == nil {
		t.Error("the refused registration is in PostgreSQL")
	}
	if n := bd.fake.CallsFor("nul-metadata"); n != 0 {
		t.Errorf("the vendor got %d calls for the refused registration", n)
	}
}
