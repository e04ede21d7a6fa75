package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/bus"
	"relay/internal/bus/asyncapitest"
	"relay/internal/config"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

const (
	// incomingTrace is the trace a client's traceparent names; relay must
	// continue it, not start its own.
	incomingTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingSpan  = "00f067aa0ba902b7"
)

// startTracedRelay runs relay with an in-memory exporter recording every
// span as it ends.
func startTracedRelay(t *testing.T, mod func(*config.Config)) (*relayUnderTest, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r := startRelayWith(t, liasmarttest.Options{APIID: "API4623444906", APIPassword: "password@123"}, mod, io.Discard,
		func(m *Main) { m.TracerProvider = tp })
	return r, exp
}

// postTraced posts one event with the client's traceparent.
func (r *relayUnderTest) postTraced(t *testing.T, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+incomingTrace+"-"+incomingSpan+"-01")
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// byName returns the ended spans called name.
func byName(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func linksTo(s tracetest.SpanStub, sc trace.SpanContext) bool {
	for _, l := range s.Links {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return true
		}
	}
	return false
}

// TestTraceFollowsAnEvent: one trace, the client's, runs from the ingest
// request through the publish, the worker and the vendor call; the batch
// that records the event (its PostgreSQL statements) is in it or linked
// from it; no span carries the vendor's credentials.
func TestTraceFollowsAnEvent(t *testing.T) {
	t.Parallel()
	r, exp := startTracedRelay(t, nil)

	code, body := r.postTraced(t, "/v1/registrations", `{"vendor":"liasmart","message_id":"traced-1","status":true}`)
	if code != 202 {
		t.Fatalf("POST: %d %s", code, body)
	}
	var process, call []tracetest.SpanStub
	testenv.Eventually(t, 20*time.Second, "worker and vendor call spans ended", func() bool {
		spans := exp.GetSpans()
		process, call = byName(spans, "process relay.registrations.liasmart"), byName(spans, "liasmart confirm")
		return len(process) == 1 && len(call) == 1
	})
	spans := exp.GetSpans()
	server := byName(spans, "POST /v1/registrations")
	publish := byName(spans, "publish relay.registrations.liasmart")
	batch := byName(spans, "record batch")
	if len(server) != 1 || len(publish) != 1 || len(batch) != 1 {
		t.Fatalf("spans: %d server, %d publish, %d batch; want one each (all: %v)", len(server), len(publish), len(batch), names(spans))
	}

	for _, s := range []tracetest.SpanStub{server[0], publish[0], process[0], call[0]} {
		if got := s.SpanContext.TraceID().String(); got != incomingTrace {
			t.Errorf("span %q in trace %s, want the client's %s", s.Name, got, incomingTrace)
		}
	}
	chain := []struct {
		child, parent tracetest.SpanStub
	}{{publish[0], server[0]}, {process[0], publish[0]}, {call[0], process[0]}}
	if server[0].Parent.SpanID().String() != incomingSpan {
		t.Errorf("server span's parent %s, want the client's span %s", server[0].Parent.SpanID(), incomingSpan)
	}
	for _, c := range chain {
		if c.child.Parent.SpanID() != c.parent.SpanContext.SpanID() {
			t.Errorf("%q's parent is %s, want %q (%s)", c.child.Name, c.child.Parent.SpanID(), c.parent.Name, c.parent.SpanContext.SpanID())
		}
	}
	if server[0].SpanKind != trace.SpanKindServer || publish[0].SpanKind != trace.SpanKindProducer ||
		process[0].SpanKind != trace.SpanKindConsumer || call[0].SpanKind != trace.SpanKindClient {
		t.Errorf("kinds: server %v, publish %v, process %v, call %v", server[0].SpanKind, publish[0].SpanKind, process[0].SpanKind, call[0].SpanKind)
	}

	// The batch of one is a child of the event's worker span, linked both
	// ways, and holds the PostgreSQL statements.
	if batch[0].Parent.SpanID() != process[0].SpanContext.SpanID() {
		t.Errorf("batch's parent %s, want the worker span %s", batch[0].Parent.SpanID(), process[0].SpanContext.SpanID())
	}
	if !linksTo(batch[0], process[0].SpanContext) || !linksTo(process[0], batch[0].SpanContext) {
		t.Errorf("batch and worker span not linked both ways: batch links %v, worker links %v", batch[0].Links, process[0].Links)
	}
	var sqlUnderBatch int
	for _, s := range spans {
		if s.Parent.SpanID() == batch[0].SpanContext.SpanID() {
			if _, ok := attr(s, "db.query.text"); ok {
				sqlUnderBatch++
			}
		}
	}
	if sqlUnderBatch < 2 {
		t.Errorf("%d PostgreSQL statements under the batch span, want the claim and the record at least", sqlUnderBatch)
	}

	want := map[string]attribute.Value{
		"relay.vendor":              attribute.StringValue("liasmart"),
		"relay.attempt":             attribute.IntValue(1),
		"http.response.status_code": attribute.IntValue(200),
		"relay.vendor_code":         attribute.IntValue(1000), // CTrack's "confirmed"
	}
	for k, v := range want {
		if got, ok := attr(call[0], k); !ok || got != v {
			t.Errorf("vendor call %s = %v (set %v), want %v", k, got.String(), ok, v.String())
		}
	}
	if got, _ := attr(process[0], "relay.state"); got.AsString() != "confirmed" {
		t.Errorf("worker span relay.state = %q, want confirmed", got.String())
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if v := kv.Value.String(); strings.Contains(v, "password@123") || strings.Contains(v, "API4623444906") {
				t.Errorf("span %q attribute %s carries a credential: %q", s.Name, kv.Key, v)
			}
		}
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

// TestTraceBatchRequest: every event of a batch request is published in
// the request's trace, each with its own publish span.
func TestTraceBatchRequest(t *testing.T) {
	t.Parallel()
	r, exp := startTracedRelay(t, nil)
	var events []string
	for i := range 3 {
		events = append(events, fmt.Sprintf(`{"vendor":"liasmart","message_id":"traced-batch-%d","status":true}`, i))
	}
	code, body := r.postTraced(t, "/v1/registrations/batch", `{"events":[`+strings.Join(events, ",")+`]}`)
	if code != 200 {
		t.Fatalf("POST batch: %d %s", code, body)
	}
	testenv.Eventually(t, 20*time.Second, "three worker spans ended", func() bool {
		return len(byName(exp.GetSpans(), "process relay.registrations.liasmart")) == 3
	})
	spans := exp.GetSpans()
	server := byName(spans, "POST /v1/registrations/batch")
	if len(server) != 1 {
		t.Fatalf("%d server spans, want 1 (all: %v)", len(server), names(spans))
	}
	for _, name := range []string{"publish relay.registrations.liasmart", "process relay.registrations.liasmart", "liasmart confirm"} {
		got := byName(spans, name)
		if len(got) != 3 {
			t.Errorf("%d %q spans, want 3", len(got), name)
		}
		for _, s := range got {
			if s.SpanContext.TraceID().String() != incomingTrace {
				t.Errorf("%q in trace %s, want %s", name, s.SpanContext.TraceID(), incomingTrace)
			}
		}
	}
	for _, p := range byName(spans, "publish relay.registrations.liasmart") {
		if p.Parent.SpanID() != server[0].SpanContext.SpanID() {
			t.Errorf("publish span's parent %s, want the request's %s", p.Parent.SpanID(), server[0].SpanContext.SpanID())
		}
	}
}

// TestUntracedPublishHasNoTraceHeaders: with tracing off (no provider, as
// when no OTEL_* variable is set) a published event carries no trace
// context, even when the request had one.
func TestUntracedPublishHasNoTraceHeaders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		traced bool
	}{{"off", false}, {"on", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ingestOnly := func(c *config.Config) { c.Role = config.RoleIngest }
			var r *relayUnderTest
			if tc.traced {
				r, _ = startTracedRelay(t, ingestOnly)
			} else {
				r = startRelayWith(t, liasmarttest.Options{}, ingestOnly, io.Discard, nil)
			}
			if code, body := r.postTraced(t, "/v1/registrations", `{"vendor":"liasmart","message_id":"hdr-1","status":true}`); code != 202 {
				t.Fatalf("POST: %d %s", code, body)
			}
			msgs := testenv.StoredMsgs(t, r.main.Bus.JS, bus.RegistrationSubject("liasmart"))
			asyncapitest.ValidateStored(t, msgs...)
			if len(msgs) != 1 {
				t.Fatalf("%d messages stored, want 1", len(msgs))
			}
			tp := msgs[0].Header.Get("traceparent")
			switch {
			case !tc.traced && len(msgs[0].Header) != 1:
				t.Errorf("untraced message headers %v, want only Nats-Msg-Id", msgs[0].Header)
			case tc.traced && !strings.HasPrefix(tp, "00-"+incomingTrace+"-"):
				t.Errorf("traced message traceparent %q, want the client's trace %s", tp, incomingTrace)
			}
		})
	}
}
