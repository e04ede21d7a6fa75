package outbound

import (
	"context"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/bus"
	"relay/internal/telemetry"
)

// traceBatch, with tracing on, continues each event's trace from its
// message's headers with a worker span, and starts the batch's span under
// which its PostgreSQL statements run. The batch span links to every
// event's span, and each event's span links back to it. Its parent is the
// first event that is sampled (so the batch is recorded when any of its
// events is, and a batch of one reads as one unbroken trace); the other
// events reach it by their links. With tracing off it returns ctx and a
// nil span, and starts nothing.
func (w *Worker) traceBatch(ctx context.Context, items map[uuid.UUID]*item, order []uuid.UUID) (context.Context, trace.Span) {
	if w.tracer == nil {
		return ctx, nil
	}
	links := make([]trace.Link, 0, len(order))
	parent := ctx
	for _, id := range order {
		it := items[id]
		m := it.msgs[0]
		ectx := telemetry.Propagator.Extract(ctx, bus.HeaderCarrier(m.Headers()))
		it.ctx, it.span = w.tracer.Start(ectx, "process "+m.Subject(), trace.WithSpanKind(trace.SpanKindConsumer))
		if !it.span.IsRecording() {
			// Not sampled: nothing of it is exported, nothing to link.
			if parent == ctx {
				parent = it.ctx
			}
			continue
		}
		it.span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.destination.name", m.Subject()),
			attribute.String("relay.event_id", id.String()),
			attribute.String("relay.vendor", it.reg.Vendor),
			attribute.Int("relay.messages", len(it.msgs)),
		)
		links = append(links, trace.Link{SpanContext: it.span.SpanContext()})
		if parent == ctx || !trace.SpanFromContext(parent).IsRecording() {
			parent = it.ctx
		}
	}
	bctx, span := w.tracer.Start(parent, "record batch", trace.WithLinks(links...))
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("relay.batch_events", len(order)))
		bsc := span.SpanContext()
		for _, id := range order {
			if it := items[id]; it.span.IsRecording() {
				it.span.AddLink(trace.Link{SpanContext: bsc})
			}
		}
	}
	return bctx, span
}

// endTraces ends the batch's spans (nil: tracing off) with each event's
// state as committed and how its messages ended.
func endTraces(batch trace.Span, items map[uuid.UUID]*item, order []uuid.UUID) {
	if batch == nil {
		return
	}
	for _, id := range order {
		it := items[id]
		if it.span == nil {
			continue
		}
		if !it.span.IsRecording() {
			it.span.End()
			continue
		}
		if it.event.State != "" {
			it.span.SetAttributes(attribute.String("relay.state", string(it.event.State)))
		}
		it.span.SetAttributes(attribute.Bool("relay.ack", it.ack))
		it.span.End()
	}
	batch.End()
}

// traceCall starts the vendor call's span, child of the event's worker
// span; with tracing off it returns ctx and nil.
func (w *Worker) traceCall(ctx context.Context, it *item) (context.Context, trace.Span) {
	if it.span == nil {
		return ctx, nil
	}
	ctx, span := w.tracer.Start(it.ctx, it.reg.Vendor+" confirm", trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("relay.vendor", it.reg.Vendor),
			attribute.Int("relay.attempt", it.event.Attempts+1),
			attribute.Bool("relay.probe", it.call.probe),
		)
	}
	return ctx, span
}

// endCall records the answer on the call's span: the HTTP status, the
// vendor's code and the error class. Never the request: it carries the
// credentials.
func endCall(span trace.Span, c *call) {
	if span == nil {
		return
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	if c.answer.HTTPStatus != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", c.answer.HTTPStatus))
	}
	if verdictless(c.answer, c.err) {
		label := callLabel(c.answer, c.err)
		span.SetAttributes(attribute.String("error.type", label))
		span.SetStatus(codes.Error, label)
	} else {
		if code := c.answer.Code(); code != nil {
			span.SetAttributes(attribute.Int("relay.vendor_code", *code))
		}
		span.SetAttributes(attribute.String("relay.vendor_status", c.answer.Status),
			attribute.String("relay.decision", Classify(c.answer).String()))
	}
	span.End()
}

// inSpanOf is ctx (a retry's own, with its timeout) carrying the batch's
// span, so the SQL spans of each try land under it; ctx itself when
// tracing is off.
func inSpanOf(ctx context.Context, span trace.Span) context.Context {
	if span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, span)
}
