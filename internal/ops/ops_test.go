package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/outbound"
	"relay/internal/outbox"
	"relay/internal/store"
	"relay/internal/testenv"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-28T10:00:00Z":        time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		"2026-11-28T10:00:00.5+01:00": time.Date(2026, 11, 28, 9, 0, 0, 5e8, time.UTC),
		"2026-11-28T10:00:00 01:00":   time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC),
		"24h":                         now.Add(-24 * time.Hour),
		"90m":                         now.Add(-90 * time.Minute),
		"7d":                          now.Add(-7 * 24 * time.Hour),
		"0s":                          now,
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-1h", "1.5d", "2026-11-28", "99999d"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := store.Cursor{CreatedAt: time.Date(2026, 11, 29, 18, 13, 8, 657477000, time.UTC), ID: uuid.New()}
	got, err := DecodeCursor(EncodeCursor(c))
	if err != nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, c)
	}
	for _, bad := range []string{"", "!!", "bm8", EncodeCursor(c)[:10]} {
		if _, err := DecodeCursor(bad); err == nil {
			t.Errorf("DecodeCursor(%q) accepted", bad)
		}
	}
}

func TestParseQueryNamesEveryBadParam(t *testing.T) {
	t.Parallel()
	params := map[string]string{"state": "failed,nope", "limit": "5000", "since": "later", "cursor": "x", "vendor": "a b"}
	_, err := ParseQuery(func(k string) string { return params[k] }, time.Now())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err %v, want a ValidationError", err)
	}
	named := map[string]bool{}
	for _, fe := range ve.Errors {
		named[fe.Field] = true
	}
	for _, f := range []string{"state", "limit", "since", "cursor", "vendor"} {
		if !named[f] {
			t.Errorf("%q not named in %v", f, ve.Errors)
		}
	}
	q, err := ParseQuery(func(k string) string { return map[string]string{"state": "failed, retrying"}[k] }, time.Now())
	if err != nil || len(q.States) != 2 || q.Limit != DefaultLimit {
		t.Errorf("valid query: %+v %v", q, err)
	}
}

// replayEnv is a store with failed events and two services: one whose
// JetStream has no RELAY stream (every publish fails) and a working one.
type replayEnv struct {
	st            *store.Store
	broken, works *Service
	js            jetstream.JetStream
	ids           []uuid.UUID
}

func newReplayEnv(t *testing.T, n int) *replayEnv {
	t.Helper()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(withStream bool) jetstream.JetStream {
		b, err := bus.Open(ctx, bus.Options{URL: testenv.NATS(t).ClientURL(), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		if withStream {
			if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
				t.Fatal(err)
			}
		}
		return b.JS
	}
	e := &replayEnv{st: st, js: open(true)}
	e.broken = New(Config{Store: st, JS: open(false), Logger: log})
	e.works = New(Config{Store: st, JS: e.js, Logger: log, StaleReplay: time.Hour})
	for range n {
		id := uuid.New()
		e.ids = append(e.ids, id)
		if _, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{ID: id, Vendor: "liasmart", MessageID: id.String()}}); err != nil {
			t.Fatal(err)
		}
		if _, err := outbound.RecordResults(ctx, st, []store.Result{{EventID: id, State: store.StateFailed, LastError: "boom"}}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *replayEnv) msgID(t *testing.T, id uuid.UUID) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, bus.RegistrationsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err == nil && strings.HasPrefix(m.Header.Get("Nats-Msg-Id"), id.String()+":") {
			return m.Header.Get("Nats-Msg-Id")
		}
	}
	return ""
}

// TestReplayWhileTheBusIsDown: a replay commits its events' re-drives to
// the outbox with the reset, so it succeeds with no stream to publish to;
// the outbox publisher delivers them, under "<id>:replay:<replay id>", once
// the bus is there. A retry with the same Idempotency-Key gets the stored
// answer and sends nothing again.
func TestReplayWhileTheBusIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newReplayEnv(t, 2)
	req := ReplayRequest{Filter: &ReplayFilter{State: States{"failed"}}}
	meta := ReplayMeta{IdempotencyKey: "bus-down"}

	res, err := e.broken.Replay(ctx, req, meta)
	if err != nil || res.Replayed != 2 {
		t.Fatalf("replay with no stream: %+v, %v; want 2 replayed", res, err)
	}
	for _, id := range e.ids {
		if ev, _ := e.st.Event(ctx, id); ev.State != store.StatePending {
			t.Fatalf("event %s is %s after the replay, want pending", id, ev.State)
		}
		if got := e.msgID(t, id); got != "" {
			t.Fatalf("message %q on the stream before the outbox was flushed", got)
		}
	}
	pub := outbox.NewPublisher(e.st, e.js, slog.New(slog.DiscardHandler))
	if n, err := pub.Flush(ctx); err != nil || n != 2 {
		t.Fatalf("outbox flush: %d, %v; want the 2 re-drives", n, err)
	}
	for _, id := range e.ids {
		if got, want := e.msgID(t, id), id.String()+":replay:"+res.ReplayID; got != want {
			t.Errorf("message id %q, want %q", got, want)
		}
	}
	again, err := e.works.Replay(ctx, req, meta)
	if err != nil || !again.Repeated || again.ReplayID != res.ReplayID || again.Replayed != 2 {
		t.Errorf("repeat %+v %v, want the stored answer", again, err)
	}
	if n, err := pub.Flush(ctx); err != nil || n != 0 {
		t.Errorf("second flush: %d, %v; want nothing more to send", n, err)
	}
}

func TestReplayKeyStillRunningOrReused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newReplayEnv(t, 1)
	req := ReplayRequest{IDs: []string{e.ids[0].String()}}
	p, err := e.works.planReplay(req, ReplayMeta{})
	if err != nil {
		t.Fatal(err)
	}
	key := "busy"
	// Another process is running this very request, and reported progress
	// just now.
	if _, err := e.st.BeginReplay(ctx, store.Replay{ID: uuid.New(), IdempotencyKey: &key, RequestHash: p.req.hash(),
		Actor: "other", Request: []byte(`{}`)}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := e.works.Replay(ctx, req, ReplayMeta{IdempotencyKey: key}); !errors.Is(err, ErrReplayInProgress) {
		t.Errorf("same key while running: %v, want ErrReplayInProgress", err)
	}
	other := ReplayRequest{IDs: []string{e.ids[0].String()}, Force: true}
	if _, err := e.works.Replay(ctx, other, ReplayMeta{IdempotencyKey: key}); !errors.Is(err, ErrKeyReused) {
		t.Errorf("same key, other request: %v, want ErrKeyReused", err)
	}
	if ev, _ := e.st.Event(ctx, e.ids[0]); ev.State != store.StateFailed {
		t.Errorf("refused replays changed the event to %s", ev.State)
	}
}
