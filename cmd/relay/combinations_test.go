package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// features is one combination of the optional features that change how a
// request is handled.
type features struct {
	tracing, signed, rateLimit, tls, split bool
}

func (f features) String() string {
	var on []string
	for _, x := range []struct {
		name string
		on   bool
	}{{"tracing", f.tracing}, {"signed", f.signed}, {"ratelimit", f.rateLimit}, {"tls", f.tls}, {"split", f.split}} {
		if x.on {
			on = append(on, x.name)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, "+")
}

// TestFeatureCombinations starts relay with every combination of tracing,
// signed keys, rate limit, TLS and the ingest/worker role split, and runs
// the README's try-it flow (post, repeat, read the state, `relay status`)
// and one refusal per guard in each: a feature must not change what
// another one does.
func TestFeatureCombinations(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	// Two cores run every combination: a few at a time keeps each one's
	// relay responsive.
	slots := make(chan struct{}, 4)
	for mask := range 32 {
		f := features{tracing: mask&1 != 0, signed: mask&2 != 0, rateLimit: mask&4 != 0, tls: mask&8 != 0, split: mask&16 != 0}
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			defer func() { <-slots }()
			c := startCombination(t, f, certFile, keyFile, pool)
			c.flow(t)
			c.refusals(t)
		})
	}
}

// combination is relay running with one set of features: one process,
// or an ingest and a worker process sharing NATS and PostgreSQL.
type combination struct {
	f        features
	base     string // scheme://host:port of the API
	client   *http.Client
	env      map[string]string // the CLI's environment
	spans    *tracetest.InMemoryExporter
	ingest   *Main
	worker   *Main
	fake     *liasmarttest.Fake
	signedAt time.Time // the last signature's time, so that each differs
	mu       sync.Mutex
}

func startCombination(t *testing.T, f features, certFile, keyFile string, pool *x509.CertPool) *combination {
	t.Helper()
	fake, ctrack := liasmarttest.NewServer(t, liasmarttest.Options{APIID: "API4623444906", APIPassword: "password@123"})
	ns := testenv.NATS(t)
	cfg := testConfig(t, ctrack.URL, ns.ClientURL())
	if f.signed {
		cfg.SignedKeys = []string{"app1"}
	}
	if f.rateLimit {
		cfg.RateLimit = 10
	}
	if f.tls {
		cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	}
	c := &combination{f: f, fake: fake, env: map[string]string{"RELAY_DATABASE_URL": cfg.DatabaseURL}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var setup func(*Main)
	if f.tracing {
		c.spans = tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(c.spans))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		setup = func(m *Main) { m.TracerProvider = tp }
	}
	if f.split {
		ingest, worker := cfg, cfg
		ingest.Role, worker.Role = config.RoleIngest, config.RoleWorker
		c.ingest, _ = runMain(t, ingest, quiet, setup)
		c.worker, _ = runMain(t, worker, quiet, setup)
		if len(c.ingest.Workers) > 0 || c.worker.Server != nil || c.worker.Addr() != "" {
			t.Fatalf("role split: ingest has %d workers, or the worker serves HTTP (%q)", len(c.ingest.Workers), c.worker.Addr())
		}
	} else {
		c.ingest, _ = runMain(t, cfg, quiet, setup)
		c.worker = c.ingest
	}
	var base *http.Client
	c.base = "http://" + c.ingest.Addr()
	if f.tls {
		base = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		c.base = "https://" + c.ingest.Addr()
	}
	c.client = openapitest.Client(t, base)
	testenv.Eventually(t, 10*time.Second, "relay ready", func() bool {
		resp, err := c.client.Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// sign returns a signature of body that no earlier request of this
// combination used: a signature names its second, and the same body
// signed twice in one second is a replay to relay.
func (c *combination) sign(body string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := time.Now().Truncate(time.Second)
	if !at.After(c.signedAt) {
		at = c.signedAt.Add(time.Second)
	}
	c.signedAt = at
	return inbound.Sign(testKey, at, []byte(body))
}

// call makes one request as the app would in this combination (its key,
// a fresh signature where the key signs); hdr adds or overrides headers,
// an empty value removing one.
func (c *combination) call(t *testing.T, method, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.f.signed {
		req.Header.Set(inbound.SignatureHeader, c.sign(body))
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

// flow is the README's try-it: post, repeat, read the state until
// confirmed, then `relay status`.
func (c *combination) flow(t *testing.T) {
	t.Helper()
	const body = `{"vendor":"liasmart","message_id":"4134","status":true}`
	code, _, resp := c.call(t, "POST", "/v1/registrations", body, nil)
	var first struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	if code != 202 || json.Unmarshal([]byte(resp), &first) != nil || first.Duplicate {
		t.Fatalf("first post: %d %s, want 202 duplicate:false", code, resp)
	}
	if code, _, resp := c.call(t, "POST", "/v1/registrations", body, nil); code != 200 || !strings.Contains(resp, `"duplicate":true`) {
		t.Fatalf("repeat: %d %s, want 200 duplicate:true", code, resp)
	}
	// The CLI reads PostgreSQL: polling it spends none of the key's rate.
	var status bytes.Buffer
	testenv.Eventually(t, 20*time.Second, "event confirmed (relay status)", func() bool {
		status.Reset()
		var errOut bytes.Buffer
		if run(context.Background(), []string{"status", "liasmart:4134"}, envOf(c.env), &status, &errOut) != 0 {
			return false
		}
		return strings.Contains(status.String(), `"state": "confirmed"`) || strings.Contains(status.String(), `"state":"confirmed"`)
	})
	code, _, resp = c.call(t, "GET", "/v1/registrations/"+first.ID, "", nil)
	if code != 200 || !strings.Contains(resp, `"state":"confirmed"`) || !strings.Contains(resp, `"vendor_code":1000`) {
		t.Fatalf("GET: %d %s, want 200 confirmed with 1000", code, resp)
	}
	if n := c.fake.Confirmations("4134"); n != 1 {
		t.Errorf("the vendor confirmed 4134 %d times, want 1", n)
	}
}

// refusals tries each guard once; every combination has the key and
// Content-Encoding guards, the others where their feature is on.
func (c *combination) refusals(t *testing.T) {
	t.Helper()
	const body = `{"vendor":"liasmart","message_id":"refused","status":true}`
	if code, _, resp := c.call(t, "POST", "/v1/registrations", body, map[string]string{"Authorization": "Bearer not-a-key-0123456789"}); code != 401 {
		t.Errorf("unknown key: %d %s, want 401", code, resp)
	}
	if code, _, resp := c.call(t, "POST", "/v1/messages", body, map[string]string{"Content-Encoding": "gzip"}); code != 415 {
		t.Errorf("gzip body: %d %s, want 415", code, resp)
	}
	if c.f.signed {
		if code, _, resp := c.call(t, "POST", "/v1/registrations", body, map[string]string{inbound.SignatureHeader: ""}); code != 401 || !strings.Contains(resp, "must sign") {
			t.Errorf("unsigned: %d %s, want 401 must sign", code, resp)
		}
		sig := c.sign(body)
		if code, _, resp := c.call(t, "POST", "/v1/registrations", body, map[string]string{inbound.SignatureHeader: sig}); code != 202 {
			t.Errorf("signed once: %d %s, want 202", code, resp)
		}
		upper := sig[:strings.Index(sig, "v1=")+3] + strings.ToUpper(sig[strings.Index(sig, "v1=")+3:])
		for _, replay := range []string{sig, upper} {
			if code, _, resp := c.call(t, "POST", "/v1/registrations", body, map[string]string{inbound.SignatureHeader: replay}); code != 401 || !strings.Contains(resp, "used before") {
				t.Errorf("replayed signature %q: %d %s, want 401 used before", replay, code, resp)
			}
		}
	}
	if c.f.rateLimit {
		limited := 0
		for i := range 30 {
			// A read spends one token, as a post does.
			code, hdr, resp := c.call(t, "GET", fmt.Sprintf("/v1/registrations/00000000-0000-4000-8000-%012d", i), "", nil)
			if code == 429 {
				limited++
				if hdr.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After: %s", resp)
				}
			}
		}
		if limited == 0 {
			t.Error("30 rapid reads at 10/s: none limited")
		}
	}
	if c.f.tls {
		if resp, err := http.Get("http://" + c.ingest.Addr() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Error("plain HTTP answered 200 on the TLS port")
			}
		}
	}
	if c.f.tracing {
		testenv.Eventually(t, 5*time.Second, "a span for the refused request", func() bool {
			for _, s := range c.spans.GetSpans() {
				if v, ok := attr(s, "http.response.status_code"); ok && v.AsInt64() == 401 {
					return true
				}
			}
			return false
		})
	}
}
