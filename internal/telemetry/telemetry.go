// Package telemetry configures OpenTelemetry tracing from the standard
// OTEL_* variables, in one place. Tracing is off unless they ask for it:
// then Setup returns no provider and the packages that trace
// (inbound, outbound, store) take their untraced paths, which start no
// span and write no header.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of relay's own spans.
const ScopeName = "relay"

// Propagator is the one relay uses on HTTP requests and NATS messages:
// W3C trace context (traceparent, tracestate).
var Propagator = propagation.TraceContext{}

// Enabled reports whether the standard variables ask for traces: an OTLP
// endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// or an exporter named in OTEL_TRACES_EXPORTER other than "none", and
// OTEL_SDK_DISABLED not "true". The SDK's own default would export to
// localhost:4318 with nothing set; relay stays silent instead.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	exporters := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	if exporters == "none" {
		return false
	}
	return exporters != "" ||
		getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup builds the tracer provider the OTEL_* variables describe, through
// the SDK's own autoconfiguration: the exporter and its protocol
// (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or
// grpc, endpoints, headers, timeouts), the sampler (OTEL_TRACES_SAMPLER,
// OTEL_TRACES_SAMPLER_ARG), the batch processor (OTEL_BSP_*) and the
// resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES; service.name
// defaults to "relay"). It also installs the provider and the W3C
// propagator as the process's globals, and sends the SDK's own errors (a
// collector that does not answer, ...) to log.
//
// With tracing off (Enabled false) it returns a nil provider and a
// shutdown that does nothing. shutdown flushes the spans not yet exported.
func Setup(ctx context.Context, version string, log *slog.Logger) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if !Enabled(os.Getenv) {
		return nil, noop, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, noop, fmt.Errorf("telemetry: trace exporter from OTEL_* variables: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, noop, nil
	}
	res, err := resource.New(ctx,
		// Later sources win: the variables override these defaults.
		resource.WithAttributes(
			attribute.String("service.name", "relay"),
			attribute.String("service.version", version),
		),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, noop, fmt.Errorf("telemetry: resource from OTEL_* variables: %w", err)
	}
	// NewTracerProvider reads OTEL_TRACES_SAMPLER and _ARG itself; unset,
	// the sampler is parentbased_always_on.
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(Propagator)
	if log != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("opentelemetry", "err", err)
		}))
	}
	return provider, provider.Shutdown, nil
}

// Tracer is relay's tracer from tp, or nil when tp is nil (tracing off):
// callers test for nil and skip every span and header.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(ScopeName)
}
