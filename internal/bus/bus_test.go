package bus_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"relay/internal/bus"
	"relay/internal/testenv"
)

// TestMain fails the package's tests when a goroutine outlives them: Close
// must stop the connection's goroutines and the embedded server's.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestEmbeddedStreamAndConsumer opens the embedded server, creates the
// stream and the consumer, round-trips a message, changes the dedup
// window at a second EnsureStreams, and closes; goleak then checks that
// Close stopped everything.
func TestEmbeddedStreamAndConsumer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Connected() {
		t.Fatal("Connected() is false right after Open")
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	cons, err := b.EnsureConsumer(ctx, bus.ConsumerOptions{Vendor: "liasmart", AckWait: 30 * time.Second, MaxAckPending: 100})
	if err != nil {
		t.Fatal(err)
	}
	subject := bus.RegistrationSubject("liasmart")
	for range 2 { // the second is a duplicate within the window
		if _, err := b.JS.Publish(ctx, subject, []byte(`{"id":"x"}`), jetstream.WithMsgID("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := testenv.Stored(t, b.JS, subject); len(got) != 1 || string(got[0]) != `{"id":"x"}` {
		t.Fatalf("stream holds %q, want the one message once", got)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for msg := range batch.Messages() {
		n++
		if msg.Subject() != subject {
			t.Errorf("consumer got subject %q, want %q", msg.Subject(), subject)
		}
		if err := msg.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("consumer delivered %d messages, want 1", n)
	}

	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	s, err := b.JS.Stream(ctx, bus.RegistrationsStream)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.CachedInfo().Config.Duplicates; d != time.Minute {
		t.Errorf("dedup window after the second EnsureStreams: %s, want 1m", d)
	}
}

// TestConnectedFollowsTheServer: Connected turns false when the external
// server goes away and true again once it is back on the same port.
func TestConnectedFollowsTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns := testenv.NATSAt(t, -1, dir)
	port := ns.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Connected() {
		t.Fatal("Connected() is false right after Open")
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	testenv.Eventually(t, 10*time.Second, "Connected() to turn false with the server gone", func() bool { return !b.Connected() })
	if err := b.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the server gone")
	}
	testenv.NATSAt(t, port, dir)
	testenv.Eventually(t, 10*time.Second, "Connected() to turn true after the server came back", b.Connected)
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping after reconnecting: %v", err)
	}
}
