// Package testenv gives each test its own PostgreSQL database and its own
// in-process NATS server with JetStream, so tests run in parallel against
// the real systems and leave nothing behind.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"relay/internal/store"
)

// DatabaseURL creates an empty database for the test and drops it when the
// test ends. The server comes from RELAY_TEST_DATABASE_URL (default: the
// local PostgreSQL as user postgres).
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("RELAY_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("RELAY_TEST_DATABASE_URL: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	u.Path = "/relay_test_" + hex.EncodeToString(b[:])
	dbURL := u.String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.EnsureDatabase(ctx, dbURL); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := store.DropDatabase(ctx, dbURL); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return dbURL
}

// Store opens a migrated store on a fresh database.
func Store(t testing.TB) (*store.Store, string) {
	t.Helper()
	dbURL := DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st, dbURL
}

// NATS starts a NATS server with JetStream on a random local port, storing
// in the test's temp dir, and shuts it down when the test ends.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSAt(t, -1, t.TempDir())
}

// NATSAt starts a server on port (-1: random) with storage in dir; tests
// that restart NATS call it again with the same port and dir.
func NATSAt(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready in 10s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// Eventually polls cond every 10ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
