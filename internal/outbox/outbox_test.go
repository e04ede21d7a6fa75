package outbox_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"relay/internal/bus"
	"relay/internal/outbox"
	"relay/internal/store"
	"relay/internal/testenv"
)

// TestFlushPublishesOnceUnderItsID: an alert written to the outbox goes
// out once with its Nats-Msg-Id, however many publishers flush at once
// (every process runs one), and is not sent again by a later flush.
func TestFlushPublishesOnceUnderItsID(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	ns := testenv.NATS(t)
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"alert:a", "alert:b"} {
		if err := st.EnqueueOutbox(ctx, nil, store.OutboxMessage{Subject: bus.AlertSubject("liasmart"), MsgID: id,
			Payload: []byte(`{"vendor":"liasmart","kind":"credentials_rejected","n":` + string(rune('0'+i)) + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	sent := make([]int, 3)
	for i := range sent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := outbox.NewPublisher(st, b.JS, quiet).Flush(ctx)
			if err != nil {
				t.Error(err)
			}
			sent[i] = n
		}()
	}
	wg.Wait()
	if total := sent[0] + sent[1] + sent[2]; total != 2 {
		t.Errorf("the publishers sent %v, want the two rows once in all", sent)
	}
	if n, err := outbox.NewPublisher(st, b.JS, quiet).Flush(ctx); err != nil || n != 0 {
		t.Errorf("a later flush sent %d (%v), want nothing", n, err)
	}
	msgs := testenv.StoredMsgs(t, b.JS, bus.AlertSubject("liasmart"))
	if len(msgs) != 2 || msgs[0].Header.Get("Nats-Msg-Id") != "alert:a" || msgs[1].Header.Get("Nats-Msg-Id") != "alert:b" {
		t.Errorf("stored %d alerts, want alert:a and alert:b once each", len(msgs))
	}
}
