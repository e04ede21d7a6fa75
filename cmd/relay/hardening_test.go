package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"relay/internal/config"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// TestMetricsListener: with RELAY_METRICS_ADDR, /metrics is served on a
// listener of its own (plain HTTP, Prometheus text), and no longer on the
// API's; it stops with the rest of the process.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" })
	addr := r.main.MetricsAddr()
	if addr == "" || addr == r.main.Addr() {
		t.Fatalf("MetricsAddr() = %q (HTTP on %q)", addr, r.main.Addr())
	}
	// One event, so that the ingest counters have a series.
	if code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"m1","status":true}`); code != 202 {
		t.Fatalf("POST: %d %v", code, body)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
	}
	code, ctype, body := get("/metrics")
	if code != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("GET /metrics on RELAY_METRICS_ADDR: %d %q", code, ctype)
	}
	if !strings.Contains(body, "\n"+`relay_ingest_events_total{result="accepted",vendor="liasmart"} 1`+"\n") {
		t.Fatalf("GET /metrics on RELAY_METRICS_ADDR lacks relay's metrics:\n%s", body)
	}
	if code, _, _ := get("/v1/registrations"); code != 404 {
		t.Errorf("the metrics listener answers the API's routes: %d", code)
	}
	// Balances and pause states are for the scraper alone.
	if resp, err := client.Get(r.url + "/metrics"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 404 {
		t.Errorf("GET /metrics on RELAY_HTTP_ADDR with RELAY_METRICS_ADDR set: %d, want 404", resp.StatusCode)
	}

	r.stop()
	tr.CloseIdleConnections()
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("RELAY_METRICS_ADDR %s still accepts connections after shutdown", addr)
	}
}

// TestMetricsAddrInUse: an address already taken is a start error naming
// RELAY_METRICS_ADDR, and the HTTP port bound before it is released.
func TestMetricsAddrInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := httpLn.Addr().String()
	httpLn.Close()

	_, ctrack := liasmarttest.NewServer(t, liasmarttest.Options{})
	cfg := config.Defaults()
	cfg.HTTPAddr = httpAddr
	cfg.MetricsAddr = taken.Addr().String()
	cfg.DatabaseURL = testenv.DatabaseURL(t)
	cfg.NATSURL = testenv.NATS(t).ClientURL()
	cfg.Liasmart.URL = ctrack.URL
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err = m.Open(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded on a taken RELAY_METRICS_ADDR")
	}
	if !strings.Contains(err.Error(), "RELAY_METRICS_ADDR="+cfg.MetricsAddr) {
		t.Errorf("error does not name RELAY_METRICS_ADDR and the address: %v", err)
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Fatalf("RELAY_HTTP_ADDR %s not released after the failed start: %v", httpAddr, err)
	}
	ln.Close()
}

// TestEmbeddedNATSToken: with RELAY_NATS_LISTEN_TOKEN a TCP client of the
// embedded server needs the token, relay itself (in-process) goes on
// taking and confirming events, and the token is in no log line.
func TestEmbeddedNATSToken(t *testing.T) {
	t.Parallel()
	const token = "nats-listen-token-SECRET-3f7a"
	var logs syncBuffer
	r := startRelayLogging(t, liasmarttest.Options{}, func(c *config.Config) {
		c.NATSURL, c.DataDir = "", t.TempDir()
		c.NATSListen, c.NATSListenToken = "127.0.0.1:0", token
	}, &logs)
	code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"tok1","status":true}`)
	if code != 202 {
		t.Fatalf("POST with the token set: %d %v", code, body)
	}
	id := body["id"].(string)
	testenv.Eventually(t, 20*time.Second, "event confirmed through the embedded NATS", func() bool { return r.state(t, id) == "confirmed" })

	addr := r.main.Bus.ListenAddr()
	if addr == "" {
		t.Fatal("the embedded server does not listen")
	}
	if nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a TCP client without the token was served")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("a TCP client without the token: %v, want an authorization error", err)
	}
	nc, err := nats.Connect("nats://"+addr, nats.Token(token))
	if err != nil {
		t.Fatalf("a TCP client with the token: %v", err)
	}
	nc.Close()

	r.stop()
	if !strings.Contains(logs.String(), `"msg":"embedded nats started"`) {
		t.Fatalf("no start line in the logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs contain RELAY_NATS_LISTEN_TOKEN:\n%s", logs.String())
	}
}

// TestServeRefusesOpenNATSAndShortSecrets: the embedded server on a
// non-loopback address without a token, and credentials shorter than 16
// bytes, stop `relay serve` before it connects anywhere, naming the
// variables and the key but not the secrets.
func TestServeRefusesOpenNATSAndShortSecrets(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"RELAY_NATS_LISTEN": "0.0.0.0:4223",
		"RELAY_API_KEYS":    "app1:tiny-secret,app2:long-enough-secret-0123",
		"RELAY_ADMIN_TOKEN": "tiny-admin",
		// Nothing listens there: the process must not get that far.
		"RELAY_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable",
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, func(k string) string { return vars[k] }, &out, &errOut); code != 1 {
		t.Fatalf("serve: exit %d, want 1: %s", code, errOut.String())
	}
	msg := errOut.String()
	for _, want := range []string{"RELAY_NATS_LISTEN=", "RELAY_NATS_LISTEN_TOKEN", `key "app1"`, "RELAY_ADMIN_TOKEN"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error lacks %q: %s", want, msg)
		}
	}
	for _, secret := range []string{"tiny-secret", "tiny-admin", "long-enough-secret-0123"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the error echoes %q: %s", secret, msg)
		}
	}
}

// TestDemoKeyWarning: while the Makefile's demo key is configured, relay
// warns at start, naming the key but not its secret.
func TestDemoKeyWarning(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	r := startRelayLogging(t, liasmarttest.Options{}, func(c *config.Config) {
		c.APIKeys = append(c.APIKeys, config.APIKey{Name: "demo", Secret: config.DemoSecret})
	}, &logs)
	r.stop()
	var warned bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"key":"demo"`) && strings.Contains(line, "change it") {
			warned = true
		}
		if strings.Contains(line, config.DemoSecret) {
			t.Errorf("a log line contains the demo secret: %s", line)
		}
	}
	if !warned {
		t.Errorf("no warning naming the demo key:\n%s", logs.String())
	}
}
