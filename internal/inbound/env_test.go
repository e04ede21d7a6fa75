package inbound_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
	"relay/internal/store"
	"relay/internal/testenv"
)

const (
	testKey    = "secret-app1-0123456789"
	testBearer = "Bearer " + testKey
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is one inbound server wired to its own in-process NATS server (so
// each case can count the RELAY stream's messages on its own) and to a
// PostgreSQL store that may be shared between cases.
type env struct {
	ns  *server.Server
	bus *bus.Bus
	js  jetstream.JetStream
	srv *inbound.Server
	st  *store.Store
}

// newEnv starts NATS, creates the RELAY stream and builds the server. st
// may be nil (ingest without PostgreSQL). mod adjusts the Config.
func newEnv(t *testing.T, st *store.Store, mod func(*inbound.Config)) *env {
	t.Helper()
	return newEnvOn(t, testenv.NATS(t), st, mod)
}

// newEnvOn is newEnv on a NATS server the test started.
func newEnvOn(t *testing.T, ns *server.Server, st *store.Store, mod func(*inbound.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{URL: ns.ClientURL(), Logger: quietLogger(), Name: t.Name()})
	if err != nil {
		t.Fatalf("bus.Open: %v", err)
	}
	t.Cleanup(b.Close)
	if err := b.EnsureStreams(ctx, bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	cfg := inbound.Config{
		Vendors:     []string{"liasmart"},
		APIKeys:     map[string]string{"app1": testKey},
		Logger:      quietLogger(),
		DedupWindow: 2 * time.Minute, // as the streams above
	}
	if mod != nil {
		mod(&cfg)
	}
	var events inbound.Events
	if st != nil {
		events = st
	}
	srv := inbound.New(cfg, b.JS, events)
	t.Cleanup(srv.Close) // servers driven by App().Test are never shut down
	return &env{ns: ns, bus: b, js: b.JS, srv: srv, st: st}
}

// do drives one request in-process. headers maps names to values; a
// name mapped to "" is left out.
func (e *env) do(t *testing.T, method, path string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.srv.App().Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	openapitest.CheckExchange(t, req, body, resp, out)
	return resp, out
}

// post sends body as JSON with the valid key.
func (e *env) post(t *testing.T, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return e.do(t, http.MethodPost, path, body, map[string]string{
		"Authorization": testBearer, "Content-Type": "application/json",
	})
}

// msgs is the registrations stream's message count.
func (e *env) msgs(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, bus.RegistrationsStream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

// lastRegistration reads the newest message on the registrations subject.
func (e *env) lastRegistration(t *testing.T) jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, bus.RegistrationsStream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, bus.RegistrationSubject("liasmart"))
	if err != nil {
		t.Fatalf("last registration: %v", err)
	}
	return *m
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// checkProblem asserts an RFC 9457 answer with status want; for a 422 it
// also asserts that errors names field.
func checkProblem(t *testing.T, resp *http.Response, body []byte, want int, field string) problemBody {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, want, truncate(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, truncate(body))
	}
	if p.Type == "" || p.Title == "" {
		t.Errorf("problem without type or title: %s", truncate(body))
	}
	if p.Status != want {
		t.Errorf("problem status %d, want %d", p.Status, want)
	}
	if want == http.StatusUnprocessableEntity {
		found := false
		for _, fe := range p.Errors {
			if fe.Field == field {
				found = true
			}
		}
		if !found {
			t.Errorf("422 errors do not name %q: %s", field, truncate(body))
		}
	}
	return p
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// event renders a single registration body with message_id id and extra
// raw JSON members appended.
func event(id string, extra ...string) string {
	var b strings.Builder
	b.WriteString(`{"vendor":"liasmart","message_id":`)
	q, _ := json.Marshal(id)
	b.Write(q)
	b.WriteString(`,"status":true`)
	for _, x := range extra {
		b.WriteString(",")
		b.WriteString(x)
	}
	b.WriteString("}")
	return b.String()
}

// listen serves the app on 127.0.0.1:0 and returns its base URL.
func (e *env) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.App().Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// doTCP sends one request over a real connection.
func doTCP(t *testing.T, base, method, path string, body io.Reader, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	client := openapitest.Client(t, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}})
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	return resp, out
}

// sendHead sends only the head of a request declaring a body of
// contentLength bytes and reads the answer: a limit enforced "without
// reading the rest" answers before the body arrives.
func sendHead(t *testing.T, base, method, path string, contentLength int, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	resp, out, err := sendHeadWithin(t, base, method, path, contentLength, headers, 10*time.Second)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	return resp, out
}

// sendHeadWithin is sendHead waiting at most wait; the answer it gets is
// checked against the OpenAPI document (the request has no body to check:
// its answer is never 2xx).
func sendHeadWithin(t *testing.T, base, method, path string, contentLength int, headers map[string]string, wait time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: relay\r\nContent-Length: %d\r\n", method, path, contentLength)
	for k, v := range headers {
		if v != "" {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		return nil, nil, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil {
		sent, _ := http.NewRequest(method, base+path, nil)
		for k, v := range headers {
			if v != "" {
				sent.Header.Set(k, v)
			}
		}
		openapitest.CheckExchange(t, sent, nil, resp, out)
	}
	return resp, out, err
}
