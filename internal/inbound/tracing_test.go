package inbound_test

import (
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/inbound"
)

// spanAttrs are the attributes of the server span named name; nil when
// there is none.
func spanAttrs(exp *tracetest.InMemoryExporter, name string) map[attribute.Key]attribute.Value {
	for _, s := range exp.GetSpans() {
		if s.Name == name && s.SpanKind == trace.SpanKindServer {
			attrs := map[attribute.Key]attribute.Value{}
			for _, a := range s.Attributes {
				attrs[a.Key] = a.Value
			}
			return attrs
		}
	}
	return nil
}

// TestSignedRequestsWithTracing: with tracing on, a correctly signed
// request is accepted (the key check runs once, so its signature is not
// taken for a replay of itself), and every refusal on /v1, the key
// check's and the encoding's, has its span with the final status.
func TestSignedRequestsWithTracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	e := signedEnv(t, func(c *inbound.Config) { c.TracerProvider = tp })

	body := []byte(event("traced-signed"))
	resp, out := e.do(t, http.MethodPost, single, body, signedHeaders(body, ""))
	checkAccepted(t, resp, out, http.StatusAccepted, "traced-signed", false)
	if a := spanAttrs(exp, "POST /v1/registrations"); a["http.response.status_code"].AsInt64() != http.StatusAccepted ||
		a["http.route"].AsString() != "/v1/registrations" {
		t.Errorf("span of the accepted request: %v, want status 202 on route /v1/registrations; spans %v", a, exp.GetSpans().Snapshots())
	}

	for _, c := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"bad signature", signedHeaders(body, inbound.Sign("not-the-secret", time.Now(), body)), http.StatusUnauthorized},
		{"no key", map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
		{"compressed", map[string]string{"Authorization": testBearer, "Content-Type": "application/json", "Content-Encoding": "gzip"}, http.StatusUnsupportedMediaType},
	} {
		exp.Reset()
		resp, out := e.do(t, http.MethodPost, batchP, body, c.headers)
		checkProblem(t, resp, out, c.want, "")
		// Refused before a route took it: the method names the span.
		a := spanAttrs(exp, "POST")
		if a["http.response.status_code"].AsInt64() != int64(c.want) || a["url.path"].AsString() != batchP {
			t.Errorf("%s: span %v, want status %d for %s; spans %v", c.name, a, c.want, batchP, exp.GetSpans().Snapshots())
		}
		if _, ok := a["http.route"]; ok {
			t.Errorf("%s: a refusal before routing has http.route %v", c.name, a["http.route"])
		}
	}
}
