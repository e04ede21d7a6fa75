package inbound

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/bus"
	"relay/internal/telemetry"
)

// traceRequest is installed only when tracing is on: a server span per
// API request, continuing an incoming W3C traceparent. It answers errors
// itself (as observe does) so that the span records the final status.
func (s *Server) traceRequest(c *fiber.Ctx) error {
	ctx := telemetry.Propagator.Extract(c.UserContext(), requestCarrier{&c.Request().Header})
	ctx, span := s.tracer.Start(ctx, "/v1", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	c.SetUserContext(ctx)
	// A panic is answered here, so that the span has its 500.
	err := next(c)
	if err != nil {
		err = s.app.ErrorHandler(c, err)
	}
	// Attributes only for the spans the sampler keeps: the others would
	// build them for nothing.
	if span.IsRecording() {
		// fiber's strings point into buffers reused after the request:
		// the span outlives it in the exporter's queue, so it gets copies.
		method := strings.Clone(c.Method())
		status := c.Response().StatusCode()
		span.SetAttributes(
			attribute.String("http.request.method", method),
			attribute.String("url.path", strings.Clone(c.Path())),
			attribute.Int("http.response.status_code", status))
		// The route template, never the raw path, names the span: ids
		// would make every name unique. A request refused before any
		// route took it (a middleware's route is current) has none: the
		// method alone names it.
		if route := c.Route().Path; s.handlerRoutes[route] {
			span.SetName(method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		} else {
			span.SetName(method)
		}
		if err != nil {
			span.RecordError(err)
		}
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	return err
}

// requestCarrier reads the propagation headers of a fasthttp request.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (r requestCarrier) Get(key string) string { return string(r.h.Peek(key)) }
func (r requestCarrier) Set(string, string)    {}
func (r requestCarrier) Keys() []string        { return nil }

// publishAsync publishes one event. With tracing on it starts a producer
// span, child of the request's, and injects its context into the
// message's headers; the span (nil when off) is ended by endPublish once
// the ack, or its absence, is known.
func (s *Server) publishAsync(ctx context.Context, subject string, data []byte, id string) (jetstream.PubAckFuture, trace.Span, error) {
	// The header is built here rather than by jetstream.WithMsgID, which
	// costs two more allocations per event (its option and options).
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
	if s.tracer == nil {
		f, err := s.pub.PublishMsgAsync(msg)
		return f, nil, err
	}
	ctx, span := s.tracer.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.name", "publish"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", id),
		)
	}
	telemetry.Propagator.Inject(ctx, bus.HeaderCarrier(msg.Header))
	f, err := s.pub.PublishMsgAsync(msg)
	return f, span, err
}

// endPublish ends a publish span (nil: tracing off) with the outcome.
func endPublish(span trace.Span, ack *jetstream.PubAck, err error) {
	if span == nil {
		return
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "not acknowledged")
	} else if ack != nil {
		span.SetAttributes(attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)),
			attribute.Bool("relay.duplicate", ack.Duplicate))
	}
	span.End()
}
