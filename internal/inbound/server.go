// Package inbound is relay's HTTP side: the ingest API that makes
// registration events durable in JetStream before answering, the status
// read, health, readiness, metrics and the OpenAPI document describing it
// all (openapi.json). It knows HTTP; what happens to an
// event after JetStream stored it is outbound's business.
package inbound

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/bus"
	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/telemetry"
)

// Publisher is the part of JetStream ingest uses.
type Publisher interface {
	PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// Events is the part of the store ingest reads.
type Events interface {
	Event(ctx context.Context, id uuid.UUID) (store.Event, error)
	KnownIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
}

// Check is a readiness probe of one dependency.
type Check func(ctx context.Context) error

// Config configures a Server.
type Config struct {
	// Vendors accepted in events.
	Vendors []string
	// APIKeys maps key names to secrets (RELAY_API_KEYS).
	APIKeys map[string]string
	// KeySource, when set, adds the keys stored in PostgreSQL; RunKeyReload
	// keeps them current.
	KeySource KeySource
	// RateLimit is each key's rate on /v1 in events per second, 0 is off:
	// an event or a tracked message counts 1, a batch its length, a read
	// (GET) 1.
	RateLimit float64
	// SignedKeys are the keys (name -> secret) whose requests must carry a
	// valid Relay-Signature.
	SignedKeys map[string]string
	// AdminToken guards /admin/; empty disables the admin API (404).
	AdminToken string
	// Admin serves the operator routes under /admin/v1 (admin.go).
	Admin AdminService
	// Messages tracks sent messages for delivery reports (messages.go).
	Messages MessageService
	// Balances reads vendor balances for /admin/v1/balances (balances.go).
	Balances BalanceService
	// PublishTimeout bounds the wait for JetStream's ack (default 5s).
	PublishTimeout time.Duration
	// DedupWindow is JetStream's duplicate window (RELAY_DEDUP_WINDOW).
	// An event whose occurred_at is older than it may be a repeat the
	// window has forgotten: for those alone ingest asks PostgreSQL first.
	// 0 never asks.
	DedupWindow time.Duration
	// LookupTimeout bounds that PostgreSQL lookup (default 250ms); past it
	// the event is published and the worker recognises a repeat.
	LookupTimeout time.Duration
	// Connected, when set, reports whether the bus is connected; while it
	// is not, ingest answers 503 at once instead of waiting out
	// PublishTimeout.
	Connected func() bool
	// ReadTimeout bounds reading one request, headers and body, so a
	// client sending slowly (slowloris) cannot hold a connection; default
	// 10s.
	ReadTimeout time.Duration
	// MetricsElsewhere leaves /metrics out of the API (404 there): the
	// process serves MetricsHandler on a listener of its own
	// (RELAY_METRICS_ADDR), out of the API clients' reach.
	MetricsElsewhere bool
	// Ready checks, by name, for /readyz.
	Ready   map[string]Check
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Now     func() time.Time
	// TracerProvider traces API requests and publishes; nil is off (no
	// span, no header, no cost).
	TracerProvider trace.TracerProvider
}

// Server is the HTTP API.
type Server struct {
	app         *fiber.App
	cfg         Config
	pub         Publisher
	events      Events
	keys        *KeyRing
	adminDigest []byte
	limiter     *rateLimiter
	lookup      *knownLookup
	signatures  *signatures
	vendors     map[string]bool
	subjects    map[string]string // vendor -> its registrations subject
	log         *slog.Logger
	m           *metrics.Metrics
	tracer      trace.Tracer // nil: tracing off
	// handlerRoutes are the paths of the routes that answer, as opposed
	// to the middleware that runs before them.
	handlerRoutes map[string]bool
}

// New builds the API. events may be nil for an ingest-only process without
// PostgreSQL access (reads then answer 503).
func New(cfg Config, pub Publisher, events Events) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	s := &Server{
		cfg: cfg, pub: pub, events: events,
		keys:       NewKeyRing(cfg.APIKeys),
		limiter:    newRateLimiter(cfg.RateLimit),
		signatures: newSignatures(cfg.SignedKeys),
		vendors:    map[string]bool{},
		subjects:   map[string]string{},
		log:        cfg.Logger,
		m:          cfg.Metrics,
		tracer:     telemetry.Tracer(cfg.TracerProvider),
	}
	for _, v := range cfg.Vendors {
		s.vendors[v] = true
		s.subjects[v] = bus.RegistrationSubject(v)
	}
	if cfg.DedupWindow > 0 {
		s.lookup = newKnownLookup(events, cfg.LookupTimeout, cfg.Logger)
	}
	if cfg.AdminToken != "" {
		d := Digest(cfg.AdminToken)
		s.adminDigest = d[:]
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "relay",
		DisableStartupMessage: true,
		BodyLimit:             MaxBatchBody,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           120 * time.Second,
		ReadBufferSize:        16 << 10,
		ErrorHandler:          s.errorHandler,
		JSONEncoder:           json.Marshal,
		JSONDecoder:           json.Unmarshal,
	})
	// The single-item routes' 64 KiB limit applies while the body is
	// read, as the app-wide 1 MiB one does: a larger body is answered 413
	// from its Content-Length, without reading the rest.
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if isSingleItem(h.Method(), h.RequestURI()) {
			return fasthttp.RequestConfig{MaxRequestBodySize: MaxSingleBody}
		}
		return fasthttp.RequestConfig{}
	}
	s.routes()
	s.handlerRoutes = map[string]bool{}
	for _, r := range s.app.GetRoutes(true) {
		s.handlerRoutes[r.Path] = true
	}
	return s
}

// isSingleItem matches what fiber routes to postRegistration and
// postMessage: case- and trailing-slash-insensitive, query ignored.
func isSingleItem(method, uri []byte) bool {
	if string(method) != fiber.MethodPost {
		return false
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	uri = bytes.TrimSuffix(uri, []byte("/"))
	return bytes.EqualFold(uri, []byte("/v1/registrations")) || bytes.EqualFold(uri, []byte("/v1/messages"))
}

// App exposes the fiber app (for Listen and for tests' app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting connections, waits for requests in flight, then
// releases what the server runs in the background (Close).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.app.ShutdownWithContext(ctx)
	s.Close()
	return err
}

// Close stops the server's background work: the loops of the PostgreSQL
// duplicate lookup. A server that was never listened on (tests driving
// App().Test) needs it; Shutdown calls it. Requests served after Close
// skip the lookup, as when it times out. Close may be called more than
// once.
func (s *Server) Close() { s.lookup.close() }

// beyondWindow reports whether JetStream's duplicate window cannot tell a
// repeat of reg: the event says it occurred before the window began, so
// its first post may have left the window already. A repeat after the
// window of an event without occurred_at is published again; the worker
// recognises it without calling the vendor.
func (s *Server) beyondWindow(reg Registration, now time.Time) bool {
	return s.lookup != nil && reg.OccurredAt != nil && reg.OccurredAt.Before(now.Add(-s.cfg.DedupWindow))
}

func (s *Server) routes() {
	s.app.Use(s.observe)
	if s.tracer != nil {
		// Before every check, so that refusals are traced too.
		s.app.Use("/v1", s.traceRequest)
	}
	s.app.Use(refuseEncoded)
	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get("/readyz", s.readyz)
	if !s.cfg.MetricsElsewhere {
		s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.m.Registry, metricsOpts)))
	}
	s.app.Get("/openapi.json", s.openAPI)
	s.app.Get("/asyncapi.json", s.asyncAPI)
	// One group: each Group call adds its handlers to the chain again, and
	// a second key check would refuse the first one's signature as a
	// replay.
	v1 := s.app.Group("/v1", s.requireKey)
	v1.Post("/registrations", s.postRegistration)
	v1.Post("/registrations/batch", s.postBatch)
	v1.Get("/registrations/:id", s.getRegistration)
	s.messageRoutes(v1)

	admin := s.app.Group("/admin/v1", s.requireAdmin)
	s.adminRoutes(admin)
	s.balanceRoutes(admin)
}

// MetricsHandler serves GET /metrics, m in Prometheus's text format, and
// 404 on any other path: the handler of a metrics listener apart from the
// API's (Config.MetricsElsewhere). It never reads a request body.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, metricsOpts))
	return mux
}

// metricsOpts answers a scraper that asks for OpenMetrics in it, as the
// OpenAPI document promises; the text format stays the default.
var metricsOpts = promhttp.HandlerOpts{EnableOpenMetrics: true}

// Keys is the server's key ring.
func (s *Server) Keys() *KeyRing { return s.keys }

// RunKeyReload keeps the stored API keys current until ctx ends, so a
// key revoked on one replica is refused by all within seconds.
func (s *Server) RunKeyReload(ctx context.Context, interval time.Duration) {
	if s.cfg.KeySource == nil {
		return
	}
	s.keys.RunReload(ctx, s.cfg.KeySource, interval, s.log)
}

// observe records request counts and latency by route template, never by
// raw path (ids would explode the label set). It is the outermost
// handler, and recovers a panic in any other (next): the panic is answered
// 500 and counted, and the process serves on.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := next(c)
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			return herr
		}
	}
	route := c.Route().Path
	if route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	s.m.IngestRequests.WithLabelValues(route, strconv.Itoa(c.Response().StatusCode())).Inc()
	s.m.IngestLatency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return nil
}

// panicked is a panic in a handler, as an error for the error handler.
type panicked struct {
	value any
	stack []byte
}

func (p *panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// next runs the rest of c's chain and returns a panic in it as a
// *panicked: fasthttp does not recover one, so it would end the process.
func next(c *fiber.Ctx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicked{value: v, stack: debug.Stack()}
		}
	}()
	return c.Next()
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	result := fiber.Map{}
	ok := true
	for _, name := range sortedKeys(s.cfg.Ready) {
		if err := s.cfg.Ready[name](ctx); err != nil {
			ok = false
			// The cause stays in the log: a driver's error names hosts,
			// users and databases, and /readyz needs no credentials.
			s.log.Warn("readiness check failed", "check", name, "err", err)
			result[name] = "unavailable"
		} else {
			result[name] = "ok"
		}
	}
	if !ok {
		p := errUnavailable("not ready")
		p.Type = problemBase + "not-ready"
		p.Title = "Not ready"
		b, _ := json.Marshal(result)
		p.Detail = string(b)
		return p
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": result})
}

// refuseEncoded answers 415 to a request declaring any Content-Encoding
// but identity, on every route and before anything reads the body:
// inflating would bypass the body limits (a few hundred bytes of nested
// gzip inflate to gigabytes). Every coding of every Content-Encoding
// header counts, as fiber's inflating Ctx.Body would decode them; handlers
// read the raw body, Request().Body, all the same.
func refuseEncoded(c *fiber.Ctx) error {
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for coding := range bytes.SplitSeq(v, []byte(",")) {
			if coding = bytes.TrimSpace(coding); len(coding) > 0 && !bytes.EqualFold(coding, []byte("identity")) {
				p := errUnsupportedMedia("")
				p.Detail = "Content-Encoding " + truncate(string(v), 30) + " is not supported: send the body uncompressed"
				return p
			}
		}
	}
	return c.Next()
}

// requireJSON answers 415 unless the body is declared JSON.
func requireJSON(c *fiber.Ctx) *Problem {
	ct := c.Get(fiber.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != fiber.MIMEApplicationJSON && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return errUnsupportedMedia(truncate(ct, 60))
	}
	return nil
}

// accepted is the JSON shape of an accepted event's answer, which
// appendAccepted writes by hand (TestAppendAcceptedIsTheJSONOfAccepted
// holds the two together; the OpenAPI document describes it).
type accepted struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
}

func (s *Server) postRegistration(c *fiber.Ctx) error {
	if len(c.Request().Body()) > MaxSingleBody {
		return errTooLarge(MaxSingleBody)
	}
	if p := requireJSON(c); p != nil {
		return p
	}
	reg, p := DecodeRegistration(c.Request().Body(), s.vendors)
	if p != nil {
		s.m.IngestEvents.WithLabelValues("", "invalid").Inc()
		return p
	}
	key, _ := c.Locals(localKeyName).(string)
	ctx := c.UserContext()
	if p := s.limiter.allow(key, 1, s.cfg.Now()); p != nil {
		return p
	}
	if s.disconnected() {
		s.m.IngestEvents.WithLabelValues(reg.Vendor, "unavailable").Inc()
		return errUnavailable("the event bus is unreachable; nothing was accepted, retry")
	}
	// JetStream's duplicate window answers for repeats (the ack's flag);
	// PostgreSQL is asked first only where the window cannot tell.
	if s.beyondWindow(reg, s.cfg.Now()) && s.lookup.known(ctx, []uuid.UUID{reg.ID})[reg.ID] {
		return s.answer(c, reg, true)
	}
	ack, err := s.publish(ctx, reg, key)
	if err != nil {
		s.log.Warn("publish failed; answered 503", "event_id", reg.ID, "vendor", reg.Vendor, "message_id", reg.MessageID, "err", err)
		s.m.IngestEvents.WithLabelValues(reg.Vendor, "unavailable").Inc()
		return errUnavailable("JetStream did not acknowledge the event; retry it: the same id makes the retry safe (it may answer duplicate if the publish landed after all)")
	}
	return s.answer(c, reg, ack.Duplicate)
}

// answer writes a single event's answer: 202, or 200 for a duplicate.
func (s *Server) answer(c *fiber.Ctx, reg Registration, dup bool) error {
	status := fiber.StatusAccepted
	result := "accepted"
	if dup {
		status, result = fiber.StatusOK, "duplicate"
	}
	s.m.IngestEvents.WithLabelValues(reg.Vendor, result).Inc()
	c.Status(status).Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBodyRaw(appendAccepted(make([]byte, 0, 80), reg.ID, dup))
	return nil
}

// appendAccepted appends the answer for one accepted event, as
// encoding/json writes accepted{ID, "accepted", Duplicate}, without
// reflection.
func appendAccepted(b []byte, id uuid.UUID, dup bool) []byte {
	b = append(b, `{"id":"`...)
	b = appendUUID(b, id)
	if dup {
		return append(b, `","status":"accepted","duplicate":true}`...)
	}
	return append(b, `","status":"accepted","duplicate":false}`...)
}

// appendUUID appends id in its canonical text form.
func appendUUID(b []byte, id uuid.UUID) []byte {
	var text [36]byte
	hex.Encode(text[:8], id[:4])
	text[8] = '-'
	hex.Encode(text[9:13], id[4:6])
	text[13] = '-'
	hex.Encode(text[14:18], id[6:8])
	text[18] = '-'
	hex.Encode(text[19:23], id[8:10])
	text[23] = '-'
	hex.Encode(text[24:], id[10:])
	return append(b, text[:]...)
}

// appendBatchResults appends the batch answer, {"results":[...]}, one
// item per event in order: its answer as a single event's, or
// {"error":problem}. Only problems go through encoding/json.
func appendBatchResults(b []byte, regs []Registration, items []batchItem) []byte {
	b = append(b, `{"results":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		if it.accepted {
			b = appendAccepted(b, regs[i].ID, it.duplicate)
			continue
		}
		p, _ := json.Marshal(it.err) // a Problem always marshals (FuzzDecodeBatch checks)
		b = append(b, `{"error":`...)
		b = append(b, p...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (s *Server) disconnected() bool {
	return s.cfg.Connected != nil && !s.cfg.Connected()
}

// appendPayload appends the bus message of reg, whose id is id, posted
// with the key named key.
func appendPayload(b []byte, reg Registration, id, key string, now time.Time) []byte {
	r := bus.Registration{
		ID: id, Vendor: reg.Vendor, MessageID: reg.MessageID,
		OccurredAt: reg.OccurredAt, Metadata: reg.Metadata, APIKey: key,
		ReceivedAt: now,
	}
	return r.AppendJSON(b)
}

// payloadSize estimates an encoded payload's length: the JSON around the
// fields and two timestamps, then the fields.
func payloadSize(reg Registration, key string) int {
	return 200 + len(reg.Vendor) + len(reg.MessageID) + len(reg.Metadata) + len(key)
}

func (s *Server) publish(ctx context.Context, reg Registration, key string) (*jetstream.PubAck, error) {
	id := reg.ID.String()
	// The buffer is the message's own: JetStream keeps it until the ack.
	data := appendPayload(make([]byte, 0, payloadSize(reg, key)), reg, id, key, s.cfg.Now().UTC())
	// Asynchronous publish, then wait for our own ack: concurrent requests
	// share the connection's pipelined acks instead of each making a
	// request-reply round of its own (measured: less CPU per event).
	f, span, err := s.publishAsync(ctx, s.subjects[reg.Vendor], data, id)
	if err != nil {
		endPublish(span, nil, err)
		return nil, err
	}
	timer := time.NewTimer(s.cfg.PublishTimeout)
	defer timer.Stop()
	var ack *jetstream.PubAck
	select {
	case ack = <-f.Ok():
	case err = <-f.Err():
	case <-timer.C:
		err = errors.New("timeout waiting for the JetStream ack")
	case <-ctx.Done():
		err = ctx.Err()
	}
	endPublish(span, ack, err)
	return ack, err
}

// batchItem is one event's result in a batch: accepted (duplicate or
// not) or refused with err.
type batchItem struct {
	accepted  bool
	duplicate bool
	err       *Problem
}

func (s *Server) postBatch(c *fiber.Ctx) error {
	if p := requireJSON(c); p != nil {
		return p
	}
	regs, problems, p := DecodeBatch(c.Request().Body(), s.vendors)
	if p != nil {
		return p
	}
	key, _ := c.Locals(localKeyName).(string)
	if p := s.limiter.allow(key, len(regs), s.cfg.Now()); p != nil {
		return p
	}
	if s.disconnected() {
		return errUnavailable("the event bus is unreachable; nothing was accepted, retry")
	}
	ctx := c.UserContext()
	items := make([]batchItem, len(regs))
	type pending struct {
		i    int
		f    jetstream.PubAckFuture
		span trace.Span // nil: tracing off
	}
	futures := make([]pending, 0, len(regs))
	// One buffer holds every payload, each a capped slice of it that
	// JetStream keeps until its ack (should the estimate fall short, a
	// growth leaves earlier payloads in the old array, which they keep
	// alive): one allocation per batch instead of one per event.
	now := s.cfg.Now().UTC()
	size := 0
	var old []uuid.UUID // where the window cannot tell (beyondWindow)
	for i := range regs {
		if problems[i] != nil {
			continue
		}
		size += payloadSize(regs[i], key)
		if s.beyondWindow(regs[i], now) {
			old = append(old, regs[i].ID)
		}
	}
	buf := make([]byte, 0, size)
	known := s.lookup.known(ctx, old)
	valid, failed := 0, 0
	for i, reg := range regs {
		if problems[i] != nil {
			items[i].err = problems[i]
			s.m.IngestEvents.WithLabelValues("", "invalid").Inc()
			continue
		}
		valid++
		if known[reg.ID] {
			items[i] = batchItem{accepted: true, duplicate: true}
			continue
		}
		id := reg.ID.String()
		start := len(buf)
		buf = appendPayload(buf, reg, id, key, now)
		f, span, err := s.publishAsync(ctx, s.subjects[reg.Vendor], buf[start:len(buf):len(buf)], id)
		if err != nil {
			endPublish(span, nil, err)
			items[i].err = errUnavailable("the event could not be made durable; retry it")
			failed++
			continue
		}
		futures = append(futures, pending{i, f, span})
	}
	timeout := time.NewTimer(s.cfg.PublishTimeout)
	defer timeout.Stop()
	expired := false
	for _, p := range futures {
		reg := regs[p.i]
		var ack *jetstream.PubAck
		var err error
		if !expired {
			select {
			case ack = <-p.f.Ok():
			case err = <-p.f.Err():
			case <-timeout.C:
				expired = true
			}
		}
		if expired {
			// The publish may still land; the client's retry is then
			// answered duplicate, which is the truth.
			select {
			case ack = <-p.f.Ok():
			default:
				err = errors.New("timeout waiting for the JetStream ack")
			}
		}
		if ack != nil {
			endPublish(p.span, ack, nil)
			items[p.i] = batchItem{accepted: true, duplicate: ack.Duplicate}
			continue
		}
		endPublish(p.span, nil, err)
		s.log.Warn("batch publish failed", "event_id", reg.ID, "vendor", reg.Vendor, "message_id", reg.MessageID, "err", err)
		items[p.i].err = errUnavailable("the event could not be made durable; retry it")
		failed++
	}
	for i, it := range items {
		if !it.accepted {
			continue
		}
		result := "accepted"
		if it.duplicate {
			result = "duplicate"
		}
		s.m.IngestEvents.WithLabelValues(regs[i].Vendor, result).Inc()
	}
	if valid > 0 && failed == valid {
		return errUnavailable("JetStream acknowledged none of the events; retry them: their ids make the retry safe")
	}
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBodyRaw(appendBatchResults(make([]byte, 0, 80*len(items)), regs, items))
	return nil
}

// EventView is the public JSON form of an event.
type EventView struct {
	ID         string `json:"id"`
	Vendor     string `json:"vendor"`
	MessageID  string `json:"message_id"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	VendorCode *int   `json:"vendor_code"`
	// VendorStatus is the vendor's code or status of its last answer as it
	// wrote it ("1000", "ThrottlingException", "HTTP 503"); VendorCode is
	// that code where it is a number.
	VendorStatus *string    `json:"vendor_status"`
	LastError    *string    `json:"last_error"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ConfirmedAt  *time.Time `json:"confirmed_at"`
}

// ViewOf converts a stored event to its public form.
func ViewOf(e store.Event) EventView {
	return EventView{
		ID: e.ID.String(), Vendor: e.Vendor, MessageID: e.MessageID, State: string(e.State),
		Attempts: e.Attempts, VendorCode: e.VendorCode, VendorStatus: e.VendorStatus, LastError: e.LastError,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(), ConfirmedAt: utcPtr(e.ConfirmedAt),
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// spendRead takes one event's worth of the request's key's rate for a
// read: a leaked key must not have relay query without bound.
func (s *Server) spendRead(c *fiber.Ctx) *Problem {
	key, _ := c.Locals(localKeyName).(string)
	return s.limiter.allow(key, 1, s.cfg.Now())
}

func (s *Server) getRegistration(c *fiber.Ctx) error {
	if p := s.spendRead(c); p != nil {
		return p
	}
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "event ids are UUIDs")
	}
	if s.events == nil {
		return errUnavailable("this process has no database access")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	e, err := s.events.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		p := problem(fiber.StatusNotFound, "not-yet-known", "Not yet known",
			"no event with this id has been recorded; an event accepted moments ago appears once a worker has taken it")
		p.retryAfter = 1
		return p
	}
	if err != nil {
		s.log.Warn("reading event", "event_id", id, "err", err)
		return errUnavailable("the database is unavailable")
	}
	return c.JSON(ViewOf(e))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
