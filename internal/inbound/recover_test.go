package inbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"relay/internal/inbound"
	"relay/internal/metrics"
	"relay/internal/store"
)

// logBuffer collects a logger's JSON records; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records are the records logged so far, decoded.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// panickingMessages is a MessageService with a bug: every call panics.
type panickingMessages struct{}

const panicText = "bug: secret-looking panic text 4f1d"

func (panickingMessages) ReportVendors() map[string]string { panic(panicText) }
func (panickingMessages) TrackMessages(context.Context, []store.NewMessage) ([]bool, error) {
	panic(panicText)
}
func (panickingMessages) Message(context.Context, uuid.UUID) (store.Message, error) { panic(panicText) }

// TestPanicIsA500AndTheServerServesOn: a panic in a handler is answered
// 500 problem+json without its text, logged with its stack, counted in
// the request metrics and traced; the process serves the next request.
func TestPanicIsA500AndTheServerServesOn(t *testing.T) {
	t.Parallel()
	for _, traced := range []bool{false, true} {
		name := "untraced"
		if traced {
			name = "traced"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			m := metrics.New()
			exp := tracetest.NewInMemoryExporter()
			e := newEnv(t, nil, func(c *inbound.Config) {
				c.Logger = logs.logger()
				c.Metrics = m
				if traced {
					tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
					t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
					c.TracerProvider = tp
				}
			})
			e.srv.SetMessageService(panickingMessages{})
			base := e.listen(t)
			headers := map[string]string{"Authorization": testBearer, "Content-Type": "application/json"}
			for range 2 {
				resp, out := doTCP(t, base, http.MethodPost, "/v1/messages", strings.NewReader(`{"vendor":"laaffic","message_id":"p"}`), headers)
				p := checkProblem(t, resp, out, http.StatusInternalServerError, "")
				if p.Type != "urn:relay:problem:internal" || p.Detail != "" {
					t.Errorf("problem %+v, want type urn:relay:problem:internal without detail", p)
				}
				if bytes.Contains(out, []byte("4f1d")) || bytes.Contains(out, []byte("goroutine")) {
					t.Errorf("the answer shows the panic: %s", out)
				}
			}
			resp, out := doTCP(t, base, http.MethodPost, single, strings.NewReader(event("after-panic")), headers)
			checkAccepted(t, resp, out, http.StatusAccepted, "after-panic", false)

			var panics int
			for _, r := range logs.records(t) {
				if r["level"] != "ERROR" || !strings.Contains(r["msg"].(string), "panic") {
					continue
				}
				panics++
				if r["panic"] != panicText {
					t.Errorf("logged panic %v, want %q", r["panic"], panicText)
				}
				if stack, _ := r["stack"].(string); !strings.Contains(stack, "panickingMessages.ReportVendors") {
					t.Errorf("logged stack does not show the panicking function:\n%s", stack)
				}
			}
			if panics != 2 {
				t.Errorf("%d panics logged, want 2 (each once)", panics)
			}
			if n := requestsCounted(t, m, "/v1/messages", "500"); n != 2 {
				t.Errorf("%v requests counted as /v1/messages 500, want 2", n)
			}
			if !traced {
				return
			}
			spans := 0
			for _, s := range exp.GetSpans() {
				if s.Name != "POST /v1/messages" {
					continue
				}
				spans++
				if s.Status.Code.String() != "Error" {
					t.Errorf("span status %v, want Error", s.Status)
				}
			}
			if spans != 2 {
				t.Errorf("%d spans of the panicking route, want 2", spans)
			}
		})
	}
}

// requestsCounted reads relay_ingest_requests_total{route, code}.
func requestsCounted(t *testing.T, m *metrics.Metrics, route, code string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "relay_ingest_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				return s.GetCounter().GetValue()
			}
		}
	}
	return 0
}
