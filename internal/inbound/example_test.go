package inbound_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"relay/internal/bus"
	"relay/internal/inbound"
)

// Example_ingest posts one "registration succeeded" event. The answer is
// 202 once JetStream has stored it, and its id is the one a client can
// compute itself with EventID.
func Example_ingest() {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// An in-process NATS server with JetStream, and the RELAY stream.
	dir, err := os.MkdirTemp("", "relay-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats not ready")
	}
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		log.Fatal(err)
	}

	// The ingest API, without PostgreSQL (reads would answer 503).
	srv := inbound.New(inbound.Config{
		Vendors: []string{"liasmart"},
		APIKeys: map[string]string{"app1": "secret-app1-0123456789"},
		Logger:  quiet,
	}, b.JS, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	defer srv.Shutdown(ctx)

	req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/registrations",
		strings.NewReader(`{"vendor":"liasmart","message_id":"4134","status":true,"occurred_at":"2026-11-29T18:00:00Z"}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer secret-app1-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode)
	fmt.Println(string(answer))
	fmt.Println(inbound.EventID("liasmart", "4134"))
	// Output:
	// 202
	// {"id":"57cce200-3726-5354-9709-aa9f7de7d361","status":"accepted","duplicate":false}
	// 57cce200-3726-5354-9709-aa9f7de7d361
}
