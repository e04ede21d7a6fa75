package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/bus/asyncapitest"
	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// post sends body to url+path; the exchange is checked against the
// OpenAPI document.
func post(t *testing.T, url, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := openapitest.Client(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, func(c *config.Config) {
		c.RateLimit = 5
		c.APIKeys = append(c.APIKeys, config.APIKey{Name: "other", Secret: "other-key-0123456789"})
	})
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	limited := 0
	var retryAfter string
	for i := range 20 {
		code, hdr, body := post(t, r.url, "/v1/registrations", fmt.Sprintf(`{"vendor":"liasmart","message_id":"rl-%d","status":true}`, i), auth)
		switch code {
		case 202:
		case 429:
			limited++
			retryAfter = hdr.Get("Retry-After")
			if !strings.Contains(body, "rate-limited") {
				t.Errorf("429 body %s", body)
			}
		default:
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	if limited < 10 {
		t.Errorf("%d of 20 rapid requests limited at 5/s, want most", limited)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Errorf("Retry-After %q, want whole seconds >= 1", retryAfter)
	}
	// Another key has its own bucket.
	code, _, body := post(t, r.url, "/v1/registrations", `{"vendor":"liasmart","message_id":"rl-other","status":true}`,
		map[string]string{"Authorization": "Bearer other-key-0123456789"})
	if code != 202 {
		t.Errorf("other key: %d %s", code, body)
	}
	// A batch larger than one second of the rate is refused whole.
	code, _, body = post(t, r.url, "/v1/registrations/batch", `{"events":[`+strings.Repeat(`{"vendor":"liasmart","message_id":"b","status":true},`, 9)+
		`{"vendor":"liasmart","message_id":"b","status":true}]}`, map[string]string{"Authorization": "Bearer other-key-0123456789"})
	if code != 429 || !strings.Contains(body, "split the batch") {
		t.Errorf("oversized batch: %d %s", code, body)
	}
}

func TestSignedRequests(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, func(c *config.Config) { c.SignedKeys = []string{"app1"} })
	body := `{"vendor":"liasmart","message_id":"signed-1","status":true}`
	auth := "Bearer " + testKey
	now := time.Now()

	cases := []struct {
		name string
		sig  string
		want int
	}{
		{"unsigned", "", 401},
		{"garbage", "nonsense", 401},
		{"wrong body", inbound.Sign(testKey, now, []byte(body+" ")), 401},
		{"wrong secret", inbound.Sign("not-the-secret", now, []byte(body)), 401},
		{"stale", inbound.Sign(testKey, now.Add(-6*time.Minute), []byte(body)), 401},
		{"future", inbound.Sign(testKey, now.Add(6*time.Minute), []byte(body)), 401},
	}
	for _, c := range cases {
		hdr := map[string]string{"Authorization": auth}
		if c.sig != "" {
			hdr[inbound.SignatureHeader] = c.sig
		}
		if code, _, resp := post(t, r.url, "/v1/registrations", body, hdr); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, resp, c.want)
		}
	}
	good := map[string]string{"Authorization": auth, inbound.SignatureHeader: inbound.Sign(testKey, now, []byte(body))}
	if code, _, resp := post(t, r.url, "/v1/registrations", body, good); code != 202 {
		t.Fatalf("signed: %d %s", code, resp)
	}
	if code, _, resp := post(t, r.url, "/v1/registrations", body, good); code != 401 || !strings.Contains(resp, "used before") {
		t.Errorf("replayed signature: %d %s, want 401", code, resp)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	fake, ctrack := liasmarttest.NewServer(t, liasmarttest.Options{})
	_ = fake
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = testenv.DatabaseURL(t)
	cfg.NATSURL = testenv.NATS(t).ClientURL()
	cfg.Liasmart.URL = ctrack.URL
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := openapitest.Client(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}})
	testenv.Eventually(t, 5*time.Second, "healthz over TLS", func() bool {
		resp, err := client.Get("https://" + m.Addr() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && resp.TLS != nil
	})
	// Plain HTTP on the TLS port is answered by Go's TLS server, not by
	// relay's API: not an exchange the OpenAPI document describes.
	if resp, err := http.Get("http://" + m.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverLeak runs traffic through every path that logs, records
// or publishes — successes, vendor errors that echo the request, rejected
// credentials, bad keys, a bad admin token — with known secrets, then
// searches the logs, every text column of the database, every message on
// the stream and the metrics for them.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		vendorPassword = "vendor-pw-SECRET-71c9"
		vendorID       = "API-ID-SECRET-5d2e"
		adminToken     = "admin-token-SECRET-9a41"
	)
	var logs syncBuffer
	r := startRelayLogging(t, liasmarttest.Options{Script: func(msg string, n int) *liasmarttest.Reply {
		switch {
		case msg == "echo" && n%2 == 1:
			// A vendor error page echoing our request.
			return &liasmarttest.Reply{Status: 500, Body: `{"api_id":"` + vendorID + `","api_password":"` + vendorPassword + `"}`}
		case msg == "garbage":
			return &liasmarttest.Reply{Body: "oops " + vendorPassword}
		case msg == "creds":
			return &liasmarttest.Reply{Code: 1004}
		}
		return nil
	}}, func(c *config.Config) {
		c.Liasmart.APIID, c.Liasmart.APIPassword = vendorID, vendorPassword
		c.AdminToken = adminToken
		c.MaxAttempts = 3
		// The echo and garbage answers must fail their events (breaker off:
		// they are the only calls, so they would read as an outage).
		c.BreakerThreshold = 0
		c.LogLevel = "debug"
	}, &logs)

	ctx := context.Background()
	settled := func(states string, want int) func() bool {
		return func() bool {
			var n int
			err := r.main.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE state = ANY(string_to_array($1, ','))`, states).Scan(&n)
			return err == nil && n == want
		}
	}
	for _, msg := range []string{"ok", "echo", "garbage"} {
		code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"`+msg+`","status":true}`)
		if code != 202 {
			t.Fatalf("%s: %d %v", msg, code, body)
		}
	}
	testenv.Eventually(t, 20*time.Second, "three events final", settled("confirmed,already_confirmed,failed", 3))
	// Rejected credentials last: the pause would hold the others back.
	if code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"creds","status":true}`); code != 202 {
		t.Fatalf("creds: %d %v", code, body)
	}
	testenv.Eventually(t, 20*time.Second, "credentials pause", settled("paused", 1))
	// Wrong keys and tokens in both directions.
	post(t, r.url, "/v1/registrations", `{}`, map[string]string{"Authorization": "Bearer " + adminToken})
	post(t, r.url, "/v1/registrations", `{}`, map[string]string{"Authorization": "Bearer wrong-" + testKey})
	post(t, r.url, "/admin/v1/replays", `{}`, map[string]string{"Authorization": "Bearer " + testKey})

	secrets := []string{vendorPassword, vendorID, adminToken, testKey}
	check := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains the secret %q", where, s)
			}
		}
	}
	// Every row of every table, as text.
	for _, table := range []string{"events", "attempts", "vendor_status", "api_keys"} {
		rows, err := r.main.Store.Pool().Query(ctx, "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			check("table "+table, row)
			n++
		}
		rows.Close()
		if table == "attempts" && n < 4 {
			t.Errorf("only %d attempts recorded: the scenario did not exercise the error paths", n)
		}
	}
	// Every message on the stream.
	nc, err := nats.Connect(r.nats.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// 3 outcomes (ok, echo confirmed; garbage failed) and the credentials
	// alert; the last may trail the database commit. The registrations
	// still on their work-queue stream (those not acked yet) too.
	testenv.Eventually(t, 10*time.Second, "4 events on "+bus.EventsStream, func() bool {
		s, err := js.Stream(ctx, bus.EventsStream)
		return err == nil && s.CachedInfo().State.Msgs >= 4
	})
	for _, m := range testenv.StoredMsgs(t, js, bus.RegistrationsAll) {
		asyncapitest.ValidateStored(t, m)
		check("stream message on "+m.Subject, string(m.Data)+fmt.Sprint(m.Header))
	}
	cons, err := js.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msgs := 0
	for m := range batch.Messages() {
		if err := asyncapitest.Check(m.Subject(), m.Headers(), m.Data()); err != nil {
			t.Errorf("AsyncAPI: %v", err)
		}
		check("stream message on "+m.Subject(), string(m.Data())+fmt.Sprint(m.Headers()))
		msgs++
	}
	if msgs < 4 {
		t.Errorf("only %d event messages read", msgs)
	}
	resp, err := r.client.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("metrics", string(metrics))

	out := logs.String()
	if !strings.Contains(out, "retry scheduled") || !strings.Contains(out, "credentials") {
		t.Errorf("the logs lack the error paths the scenario should have logged:\n%s", out)
	}
	check("logs", out)
}
