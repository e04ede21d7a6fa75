package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"relay/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEnabled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"exporter named", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false},
		{"sampler alone", map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, false},
		{"service name alone", map[string]string{"OTEL_SERVICE_NAME": "relay-eu"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := telemetry.Enabled(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
		})
	}
}

// clearOTEL unsets what the machine's environment might set, so each
// test sees only its own variables.
func clearOTEL(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		t.Setenv(k, "")
	}
}

// Not parallel: these tests set the process's environment.

func TestSetupOffWithoutVariables(t *testing.T) {
	clearOTEL(t)
	tp, shutdown, err := telemetry.Setup(context.Background(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tp != nil {
		t.Errorf("provider %T with no OTEL_* variable, want none", tp)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if telemetry.Tracer(nil) != nil {
		t.Error("Tracer(nil) is not nil: callers would trace with tracing off")
	}
}

// TestSetupExportsOverHTTP: an endpoint and a sampler in the variables
// give a provider that samples as told and whose shutdown flushes to the
// OTLP HTTP endpoint.
func TestSetupExportsOverHTTP(t *testing.T) {
	clearOTEL(t)
	var posts atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == "POST" && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")

	tp, shutdown, err := telemetry.Setup(context.Background(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tp == nil {
		t.Fatal("no provider with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	tr := telemetry.Tracer(tp)
	_, unsampled := tr.Start(context.Background(), "dropped")
	unsampled.End()
	if unsampled.SpanContext().IsSampled() {
		t.Error("span sampled with OTEL_TRACES_SAMPLER_ARG=0")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("%d exports of unsampled spans", n)
	}

	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "1")
	tp, shutdown, err = telemetry.Setup(context.Background(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, sampled := telemetry.Tracer(tp).Start(context.Background(), "kept")
	sampled.End()
	if !sampled.SpanContext().IsSampled() {
		t.Error("span not sampled with OTEL_TRACES_SAMPLER_ARG=1")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("%d POSTs to /v1/traces after shutdown, want the one flush", n)
	}
}

// traceCollector is an OTLP/gRPC trace service counting the spans it
// receives.
type traceCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	spans atomic.Int64
}

func (c *traceCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans.Add(int64(len(ss.Spans)))
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestSetupExportsOverGRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc sends the
// spans to an OTLP/gRPC collector.
func TestSetupExportsOverGRPC(t *testing.T) {
	clearOTEL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	collector := &traceCollector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, collector)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")

	tp, shutdown, err := telemetry.Setup(context.Background(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tp == nil {
		t.Fatal("no provider with the grpc protocol")
	}
	_, span := telemetry.Tracer(tp).Start(context.Background(), "over grpc")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := collector.spans.Load(); n != 1 {
		t.Errorf("collector received %d spans over gRPC, want 1", n)
	}
}

func TestSetupRejectsUnknownProtocol(t *testing.T) {
	clearOTEL(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, _, err := telemetry.Setup(context.Background(), "test", nil); err == nil {
		t.Error("no error for OTEL_EXPORTER_OTLP_PROTOCOL=http/json (not supported by the Go SDK)")
	}
}
