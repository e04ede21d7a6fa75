package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"relay/internal/bus/asyncapitest"
	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

const testKey = "test-key-0123456789abcdef"

type relayUnderTest struct {
	main *Main
	url  string
	// client checks every exchange against the OpenAPI document and
	// fails the test on a mismatch.
	client *http.Client
	nats   *server.Server
	fake   *liasmarttest.Fake
	stop   func()
}

// startRelay runs a whole relay process in-process against a fresh
// database, its own NATS server and a fake CTrack.
func startRelay(t *testing.T, fakeOpts liasmarttest.Options, mod func(*config.Config)) *relayUnderTest {
	t.Helper()
	return startRelayLogging(t, fakeOpts, mod, io.Discard)
}

// startRelayLogging is startRelay with relay's JSON logs written to logs.
func startRelayLogging(t *testing.T, fakeOpts liasmarttest.Options, mod func(*config.Config), logs io.Writer) *relayUnderTest {
	t.Helper()
	return startRelayWith(t, fakeOpts, mod, logs, nil)
}

// startRelayWith is startRelayLogging with setup run on the Main before
// Open (a test's tracer provider, ...).
func startRelayWith(t *testing.T, fakeOpts liasmarttest.Options, mod func(*config.Config), logs io.Writer, setup func(*Main)) *relayUnderTest {
	t.Helper()
	fake, ctrack := liasmarttest.NewServer(t, fakeOpts)
	ns := testenv.NATS(t)
	cfg := testConfig(t, ctrack.URL, ns.ClientURL())
	if mod != nil {
		mod(&cfg)
	}
	m, stop := runMain(t, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), setup)
	r := &relayUnderTest{main: m, url: "http://" + m.Addr(), client: openapitest.Client(t, nil), nats: ns, fake: fake, stop: stop}
	testenv.Eventually(t, 5*time.Second, "relay ready", func() bool {
		resp, err := r.client.Get(r.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return r
}

// testConfig is the configuration of a relay under test: a fresh
// database, the NATS server at natsURL, the fake CTrack at ctrackURL, the
// test key, fast retries.
func testConfig(t *testing.T, ctrackURL, natsURL string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = testenv.DatabaseURL(t)
	cfg.NATSURL = natsURL
	cfg.APIKeys = []config.APIKey{{Name: "app1", Secret: testKey}}
	cfg.Liasmart = config.Liasmart{URL: ctrackURL, CTrackPath: "/api/CTrack", APIID: "API4623444906", APIPassword: "password@123"}
	cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

// runMain opens and runs one relay process logging to logger, with setup
// run on the Main before Open (a test's tracer provider, ...). stop ends
// it and waits (at most once; the test's cleanup calls it too).
func runMain(t *testing.T, cfg config.Config, logger *slog.Logger, setup func(*Main)) (*Main, func()) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, logger)
	if setup != nil {
		setup(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("relay run (%s): %v", cfg.Role, err)
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func (r *relayUnderTest) do(t *testing.T, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func (r *relayUnderTest) state(t *testing.T, id string) string {
	code, _, body := r.do(t, "GET", "/v1/registrations/"+id, "")
	if code != 200 {
		return ""
	}
	s, _ := body["state"].(string)
	return s
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{APIID: "API4623444906", APIPassword: "password@123"}, nil)

	nc, err := nats.Connect(r.nats.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	outcomes := map[string]int{}
	sub, err := nc.Subscribe("relay.confirmations.liasmart.>", func(m *nats.Msg) {
		asyncapitest.Validate(t, m)
		var c struct {
			MessageID string `json:"message_id"`
			Outcome   string `json:"outcome"`
		}
		_ = json.Unmarshal(m.Data, &c)
		mu.Lock()
		outcomes[c.MessageID]++
		mu.Unlock()
		if m.Subject != "relay.confirmations.liasmart."+c.Outcome {
			t.Errorf("outcome %q on subject %s", c.Outcome, m.Subject)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	const singles, batchSize = 60, 100
	ids := map[string]string{} // message_id -> id
	var wg sync.WaitGroup
	var idsMu sync.Mutex
	for i := range singles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("single-%d", i%40) // 20 repeats
			code, _, body := r.do(t, "POST", "/v1/registrations",
				fmt.Sprintf(`{"vendor":"liasmart","message_id":%q,"status":true,"metadata":{"n":%d}}`, msg, i))
			if code != 202 && code != 200 {
				t.Errorf("POST %s: %d %v", msg, code, body)
				return
			}
			if (code == 200) != (body["duplicate"] == true) {
				t.Errorf("POST %s: code %d with duplicate=%v", msg, code, body["duplicate"])
			}
			idsMu.Lock()
			ids[msg] = body["id"].(string)
			idsMu.Unlock()
		}()
	}
	wg.Wait()

	var events []string
	for i := range batchSize {
		events = append(events, fmt.Sprintf(`{"vendor":"liasmart","message_id":"batch-%d","status":true}`, i%80))
	}
	code, _, body := r.do(t, "POST", "/v1/registrations/batch", `{"events":[`+strings.Join(events, ",")+`]}`)
	if code != 200 {
		t.Fatalf("batch: %d %v", code, body)
	}
	results := body["results"].([]any)
	if len(results) != batchSize {
		t.Fatalf("batch answered %d results, want %d", len(results), batchSize)
	}
	dups := 0
	for i, res := range results {
		item := res.(map[string]any)
		msg := fmt.Sprintf("batch-%d", i%80)
		if item["duplicate"] == true {
			dups++
		}
		if want := inbound.EventID("liasmart", msg).String(); item["id"] != want {
			t.Errorf("batch item %d id %v, want %s", i, item["id"], want)
		}
		ids[msg] = item["id"].(string)
	}
	if dups != 20 {
		t.Errorf("batch reported %d duplicates, want 20", dups)
	}

	for msg, id := range ids {
		testenv.Eventually(t, 20*time.Second, msg+" confirmed", func() bool { return r.state(t, id) == "confirmed" })
	}
	for msg, n := range r.fake.ConfirmedIDs() {
		if n != 1 {
			t.Errorf("%s got %d answers of 1000 from the vendor, want 1", msg, n)
		}
	}
	if got := len(r.fake.ConfirmedIDs()); got != len(ids) {
		t.Errorf("vendor confirmed %d message ids, want %d", got, len(ids))
	}
	testenv.Eventually(t, 5*time.Second, "an outcome event per event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) == len(ids)
	})

	// A repeat long after (here: after the event is final) is still a
	// duplicate and causes no vendor call.
	calls := len(r.fake.Calls())
	code, _, body = r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"single-1","status":true}`)
	if code != 200 || body["duplicate"] != true {
		t.Errorf("repeat of a confirmed event: %d %v", code, body)
	}
	if got := len(r.fake.Calls()); got != calls {
		t.Errorf("repeat caused %d vendor calls", got-calls)
	}

	// The status read has the spec's fields.
	_, _, ev := r.do(t, "GET", "/v1/registrations/"+ids["single-1"], "")
	for _, f := range []string{"id", "vendor", "message_id", "state", "attempts", "vendor_code", "vendor_status", "last_error", "created_at", "updated_at", "confirmed_at"} {
		if _, ok := ev[f]; !ok {
			t.Errorf("GET registration lacks %q: %v", f, ev)
		}
	}
	if ev["vendor_code"] != float64(1000) || ev["vendor_status"] != "1000" || ev["attempts"] != float64(1) {
		t.Errorf("GET registration: %v", ev)
	}
}

func TestNATSDownAnswers503AndAcceptsNothing(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, nil)
	r.nats.Shutdown()
	r.nats.WaitForShutdown()
	start := time.Now()
	code, hdr, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"lost-1","status":true}`)
	if code != 503 || hdr.Get("Retry-After") == "" || hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("with NATS down: %d %v %v", code, hdr, body)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("503 took %s", time.Since(start))
	}
	code, _, _ = r.do(t, "GET", "/readyz", "")
	if code != 503 {
		t.Errorf("readyz with NATS down: %d, want 503", code)
	}
	if n := len(r.fake.Calls()); n != 0 {
		t.Errorf("vendor called %d times for an event never accepted", n)
	}
}

func TestUnconfiguredVendorKeepsEventsPaused(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, func(c *config.Config) {
		c.Liasmart.APIID, c.Liasmart.APIPassword = "", ""
	})
	code, _, body := r.do(t, "POST", "/v1/registrations", `{"vendor":"liasmart","message_id":"wait-1","status":true}`)
	if code != 202 {
		t.Fatalf("POST: %d %v", code, body)
	}
	id := body["id"].(string)
	testenv.Eventually(t, 10*time.Second, "event paused", func() bool { return r.state(t, id) == "paused" })
	if n := len(r.fake.Calls()); n != 0 {
		t.Errorf("vendor called %d times without credentials", n)
	}
}

func TestRunCommands(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	env := func(k string) string {
		if k == "RELAY_DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if code := run(ctx, []string{"migrate"}, env, &out, &errOut); code != 0 || !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate: exit %d, %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(ctx, []string{"migrate"}, env, &out, &errOut); code != 0 || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second migrate: exit %d, %q", code, out.String())
	}
	if code := run(ctx, []string{"status", "liasmart:nope"}, env, &out, &errOut); code != 1 {
		t.Errorf("status of an unknown event: exit %d", code)
	}
	if code := run(ctx, []string{"bogus"}, env, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	bad := func(k string) string {
		if k == "RELAY_RETRY_BASE" {
			return "soon"
		}
		return env(k)
	}
	errOut.Reset()
	if code := run(ctx, []string{"serve"}, bad, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "RELAY_RETRY_BASE") {
		t.Errorf("bad config: exit %d, %q", code, errOut.String())
	}
}

func TestKeysCreateListRevoke(t *testing.T) {
	t.Parallel()
	r := startRelay(t, liasmarttest.Options{}, nil)
	env := func(k string) string {
		if k == "RELAY_DATABASE_URL" {
			return r.main.Config.DatabaseURL
		}
		return ""
	}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"keys", "create", "--name", "app2"}, env, &out, &errOut); code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, errOut.String())
	}
	secret := strings.TrimSpace(out.String())
	post := func() int {
		req, _ := http.NewRequest("POST", r.url+"/v1/registrations", strings.NewReader(`{"vendor":"liasmart","message_id":"k1","status":true}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testenv.Eventually(t, 10*time.Second, "new key accepted", func() bool { c := post(); return c == 202 || c == 200 })

	var stored string
	if err := r.main.Store.Pool().QueryRow(ctx, "SELECT encode(digest, 'hex') FROM api_keys WHERE name = 'app2'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, secret) || len(stored) != 64 {
		t.Fatalf("stored digest %q", stored)
	}
	out.Reset()
	if code := run(ctx, []string{"keys", "list"}, env, &out, &errOut); code != 0 || !strings.Contains(out.String(), "app2") || strings.Contains(out.String(), secret) {
		t.Fatalf("keys list: exit %d: %q", code, out.String())
	}
	if code := run(ctx, []string{"keys", "revoke", "app2"}, env, &out, &errOut); code != 0 {
		t.Fatalf("keys revoke: exit %d: %s", code, errOut.String())
	}
	testenv.Eventually(t, 10*time.Second, "revoked key refused", func() bool { return post() == 401 })
	if code := run(ctx, []string{"keys", "create", "--name", "bad name"}, env, &out, &errOut); code != 2 {
		t.Errorf("bad key name: exit %d, want 2", code)
	}
}
