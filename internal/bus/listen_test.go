package bus_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
)

// openListening opens the embedded server listening on a free loopback
// port with token ("" for none) and returns the bus and its address.
func openListening(t *testing.T, token string) (*bus.Bus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ListenToken: token, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	addr := b.ListenAddr()
	if addr == "" || addr == "127.0.0.1:4222" {
		t.Fatalf("ListenAddr() = %q, want a free port of 127.0.0.1", addr)
	}
	return b, addr
}

// TestListenTokenGuardsTCPClients: with RELAY_NATS_LISTEN_TOKEN a TCP
// client without the token, or with another, is refused; with it (as the
// nats CLI gives it, --token or in the URL) it is served; and relay's own
// in-process connection keeps working.
func TestListenTokenGuardsTCPClients(t *testing.T) {
	t.Parallel()
	const token = "nats-listen-token-0123456789"
	b, addr := openListening(t, token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("relay's own connection with the token set: %v", err)
	}
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.Publish(ctx, bus.RegistrationSubject("liasmart"), []byte(`{}`)); err != nil {
		t.Fatalf("relay's own publish with the token set: %v", err)
	}

	for name, opts := range map[string][]nats.Option{
		"no token":    nil,
		"wrong token": {nats.Token("not-the-token-0123456789")},
	} {
		nc, err := nats.Connect("nats://"+addr, append(opts, nats.MaxReconnects(0))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization error", name, err)
		}
	}
	for name, connect := range map[string]func() (*nats.Conn, error){
		"--token":      func() (*nats.Conn, error) { return nats.Connect("nats://"+addr, nats.Token(token)) },
		"token in URL": func() (*nats.Conn, error) { return nats.Connect("nats://" + url.User(token).String() + "@" + addr) },
	} {
		nc, err := connect()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		js, err := jetstream.New(nc)
		if err == nil {
			_, err = js.Stream(ctx, bus.RegistrationsStream)
		}
		if err != nil {
			t.Errorf("%s: JetStream: %v", name, err)
		}
		nc.Close()
	}
}

// TestListenWithoutTokenOnLoopback: without a token the loopback
// listener takes clients as before.
func TestListenWithoutTokenOnLoopback(t *testing.T) {
	t.Parallel()
	b, addr := openListening(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatalf("TCP client without a token: %v", err)
	}
	defer nc.Close()
	if err := nc.Publish("x", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
