// Package ops is what operators do to relay: list and count events, read an
// event's vendor calls and the vendor calls' trends per minute, replay failed confirmations and resume a paused
// vendor. The admin HTTP API (inbound) and the console call it; the `relay
// replay` CLI reaches it through that API. It owns no transport: its inputs
// and answers are plain values, its errors typed (ValidationError,
// ErrNotFound, ...), so every caller decides the same way.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/metrics"
	"relay/internal/store"
	"relay/internal/vendors/liasmart"
)

// Store is what operations need of PostgreSQL.
type Store interface {
	ListEvents(ctx context.Context, f store.Filter) ([]store.Event, error)
	ResumeVendor(ctx context.Context, vendor, subject, tag string, alerts map[string]store.OutboxMessage) (*store.VendorChange, error)
	Event(ctx context.Context, id uuid.UUID) (store.Event, error)
	Attempts(ctx context.Context, id uuid.UUID) ([]store.Attempt, error)
	CountEvents(ctx context.Context) ([]store.StateCount, error)
	VendorStatuses(ctx context.Context) ([]store.VendorStatus, error)
	ResetForReplay(ctx context.Context, replayID uuid.UUID, ids []uuid.UUID, force bool, subjectPrefix string) ([]uuid.UUID, error)
	ReplayedEvents(ctx context.Context, replayID uuid.UUID) ([]uuid.UUID, error)
	BeginReplay(ctx context.Context, r store.Replay, stale time.Duration) (store.Replay, error)
	ReplayProgress(ctx context.Context, id uuid.UUID, matched, replayed int) error
	FinishReplay(ctx context.Context, id uuid.UUID, status string, matched, replayed int, result json.RawMessage, errText string) (store.Replay, error)
	Replays(ctx context.Context, limit int) ([]store.Replay, error)
	AttemptTrends(ctx context.Context, from time.Time, n int, width time.Duration) ([]store.TrendBucket, error)
	VendorCallStats(ctx context.Context, from, to time.Time) ([]store.VendorCalls, error)
}

// Config configures a Service.
type Config struct {
	Store Store
	// JS publishes replayed events; it is the process's own connection,
	// which is why replays go through the running relay.
	JS      jetstream.JetStream
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
	// StaleReplay is how long a running replay may go without progress
	// before a retry with its Idempotency-Key takes it over (default 2m).
	StaleReplay time.Duration
	// Nudge, when set, is called after a commit that wrote re-drives to
	// the outbox (a replay, a resume), so the publisher sends them now.
	Nudge func()
	// Vendors are the enabled confirm vendors, whose workers' consumers
	// stats sum up and whose state, call rate and latency it shows.
	Vendors []string
	// Unconfigured are the enabled vendors whose credentials are not set.
	Unconfigured []string
}

// Service carries out operator requests.
type Service struct {
	store Store
	js    jetstream.JetStream
	m     *metrics.Metrics
	log   *slog.Logger
	now   func() time.Time
	stale time.Duration
	nudge func()
	// vendors: see Config.Vendors.
	vendors []string
	// unconfigured: see Config.Unconfigured.
	unconfigured map[string]bool
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StaleReplay <= 0 {
		cfg.StaleReplay = 2 * time.Minute
	}
	if cfg.Nudge == nil {
		cfg.Nudge = func() {}
	}
	return &Service{store: cfg.Store, js: cfg.JS, m: cfg.Metrics, log: cfg.Logger, now: cfg.Now, stale: cfg.StaleReplay,
		nudge: cfg.Nudge, vendors: cfg.Vendors, unconfigured: setOf(cfg.Unconfigured)}
}

// Errors callers map to answers.
var (
	// ErrNotFound: the event (or vendor) asked about is unknown.
	ErrNotFound = errors.New("ops: not found")
	// ErrReplayInProgress: a replay with this Idempotency-Key is running.
	ErrReplayInProgress = errors.New("ops: a replay with this Idempotency-Key is still running")
	// ErrKeyReused: the Idempotency-Key was used for a different request.
	ErrKeyReused = errors.New("ops: the Idempotency-Key was used for a different request")
)

// FieldError names one invalid parameter.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ValidationError lists every invalid parameter of a request.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 0 {
		return "ops: invalid request"
	}
	return "ops: invalid " + e.Errors[0].Field + ": " + e.Errors[0].Detail
}

func (e *ValidationError) add(field, detail string) {
	e.Errors = append(e.Errors, FieldError{Field: field, Detail: detail})
}

// err returns e when it holds errors, else nil (an untyped nil, so that
// callers' err != nil means something).
func (e *ValidationError) err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}

// codeMeanings turns a vendor's answer code into the vendor's documented
// text, by vendor.
var codeMeanings = map[string]func(code int) string{
	"liasmart": func(code int) string { return liasmart.Code(code).Meaning() },
}

// CodeMeaning is the documented meaning of a vendor's answer code, or ""
// when relay knows no documentation for the vendor.
func CodeMeaning(vendor string, code int) string {
	if f := codeMeanings[vendor]; f != nil {
		return f(code)
	}
	return ""
}

// Page is one page of a listing.
type Page struct {
	Events []store.Event
	// NextCursor continues the listing; empty on the last page.
	NextCursor string
}

// ListEvents returns one page of the events matching q.
func (s *Service) ListEvents(ctx context.Context, q Query) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	f := q.filter()
	// One more than asked: whether it comes back says if a next page exists,
	// so the last page carries no cursor leading to an empty one.
	f.Limit = limit + 1
	evs, err := s.store.ListEvents(ctx, f)
	if err != nil {
		return Page{}, err
	}
	p := Page{Events: evs}
	if len(evs) > limit {
		p.Events = evs[:limit]
		last := p.Events[limit-1]
		p.NextCursor = EncodeCursor(store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return p, nil
}

// VendorState is a vendor's pause state.
type VendorState struct {
	Vendor string `json:"vendor"`
	Paused bool   `json:"paused"`
	// Kind says why it is paused: "credentials" (the vendor refused our
	// credentials) or "unavailable" (the breaker tripped).
	Kind     string     `json:"kind,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	PausedAt *time.Time `json:"paused_at,omitempty"`
	// Failures is the fleet's count of consecutive transient failures,
	// which pauses the vendor at RELAY_BREAKER_THRESHOLD.
	Failures int `json:"consecutive_failures"`
}

// ConsumerState is the workers' backlog in JetStream.
type ConsumerState struct {
	// Pending messages not yet delivered to a worker.
	Pending uint64 `json:"pending"`
	// AckPending messages delivered and not yet acknowledged (in flight or
	// waiting out a retry delay).
	AckPending int `json:"ack_pending"`
	// Redelivered messages delivered more than once and still unacked.
	Redelivered int `json:"redelivered"`
}

// Stats is the state of relay at a glance.
type Stats struct {
	Total int64 `json:"total"`
	// ByState counts the events in each state (every state present).
	ByState map[string]int64 `json:"by_state"`
	// ByVendor counts each vendor's events by state.
	ByVendor map[string]map[string]int64 `json:"by_vendor"`
	Vendors  []VendorState               `json:"vendors"`
	// EnabledVendors are the enabled confirm vendors, in configuration
	// order, each with its state and its calls of the last
	// VendorWindowSeconds.
	EnabledVendors      []VendorView `json:"enabled_vendors"`
	VendorWindowSeconds int          `json:"vendor_window_seconds"`
	// Consumer is absent when JetStream could not be asked.
	Consumer *ConsumerState `json:"consumer,omitempty"`
	At       time.Time      `json:"at"`
}

// AllStates lists every event state, in lifecycle order.
var AllStates = []store.State{store.StatePending, store.StateRetrying, store.StatePaused,
	store.StateConfirmed, store.StateAlreadyConfirmed, store.StateFailed}

// Stats counts the events by state and vendor and reads the vendors' pause
// states and the consumer's backlog.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	counts, err := s.store.CountEvents(ctx)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{ByState: map[string]int64{}, ByVendor: map[string]map[string]int64{}, Vendors: []VendorState{}, At: s.now().UTC()}
	for _, state := range AllStates {
		st.ByState[string(state)] = 0
	}
	for _, c := range counts {
		st.Total += c.Count
		st.ByState[string(c.State)] += c.Count
		if st.ByVendor[c.Vendor] == nil {
			st.ByVendor[c.Vendor] = map[string]int64{}
		}
		st.ByVendor[c.Vendor][string(c.State)] = c.Count
	}
	statuses, err := s.store.VendorStatuses(ctx)
	if err != nil {
		return Stats{}, err
	}
	for _, v := range statuses {
		vs := VendorState{Vendor: v.Vendor, Paused: v.Paused, Reason: v.Reason, PausedAt: utc(v.PausedAt), Failures: v.Failures}
		if v.Paused {
			vs.Kind = v.Kind
		}
		st.Vendors = append(st.Vendors, vs)
	}
	if st.EnabledVendors, err = s.vendorViews(ctx, statuses); err != nil {
		return Stats{}, err
	}
	st.VendorWindowSeconds = int(VendorWindow / time.Second)
	st.Consumer = s.consumerState(ctx)
	return st, nil
}

// consumerState sums up the workers' consumers, one per vendor; it is
// cheap (a request each) but optional: stats still answer when JetStream
// does not.
func (s *Service) consumerState(ctx context.Context) *ConsumerState {
	if s.js == nil || len(s.vendors) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var st ConsumerState
	for _, v := range s.vendors {
		c, err := s.js.Consumer(ctx, bus.RegistrationsStream, bus.VendorConsumer(v))
		if err != nil {
			s.log.Debug("stats: consumer info", "vendor", v, "err", err)
			return nil
		}
		info := c.CachedInfo()
		st.Pending += info.NumPending
		st.AckPending += info.NumAckPending
		st.Redelivered += info.NumRedelivered
	}
	return &st
}

// AttemptView is one vendor call as operators see it.
type AttemptView struct {
	Attempt    int       `json:"attempt"`
	Time       time.Time `json:"time"`
	DurationMS float64   `json:"duration_ms"`
	HTTPStatus *int      `json:"http_status"`
	VendorCode *int      `json:"vendor_code"`
	// VendorStatus is the vendor's code or status as it wrote it; null
	// when no answer arrived.
	VendorStatus *string `json:"vendor_status"`
	// VendorMeaning is the vendor's documented text for VendorCode.
	VendorMeaning string `json:"vendor_meaning,omitempty"`
	Outcome       string `json:"outcome"`
	// Error is already free of secrets: vendor clients never put one in.
	Error string `json:"error,omitempty"`
}

// EventAttempts is an event with its every vendor call, oldest first.
type EventAttempts struct {
	Event    store.Event
	Attempts []AttemptView
}

// Attempts returns the event id and its vendor calls; ErrNotFound when no
// such event is recorded.
func (s *Service) Attempts(ctx context.Context, id uuid.UUID) (EventAttempts, error) {
	e, err := s.store.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return EventAttempts{}, ErrNotFound
	}
	if err != nil {
		return EventAttempts{}, err
	}
	atts, err := s.store.Attempts(ctx, id)
	if err != nil {
		return EventAttempts{}, err
	}
	out := EventAttempts{Event: e, Attempts: make([]AttemptView, 0, len(atts))}
	for _, a := range atts {
		v := AttemptView{
			Attempt: a.Attempt, Time: a.StartedAt.UTC(),
			DurationMS: float64(a.Duration.Microseconds()) / 1000,
			HTTPStatus: a.HTTPStatus, VendorCode: a.VendorCode, Outcome: a.Outcome, Error: a.Error,
		}
		if a.VendorStatus != "" {
			s := a.VendorStatus
			v.VendorStatus = &s
		}
		if a.VendorCode != nil {
			v.VendorMeaning = CodeMeaning(e.Vendor, *a.VendorCode)
		}
		out.Attempts = append(out.Attempts, v)
	}
	return out, nil
}

// ResumeResult is the answer to a resume.
type ResumeResult struct {
	Vendor string `json:"vendor"`
	// Resumed is false when the vendor was not paused.
	Resumed bool `json:"resumed"`
	// Requeued counts the paused events sent back to the workers.
	Requeued int `json:"requeued"`
}

// ResumeVendor lifts a vendor's pause (credentials fixed, or the vendor is
// known to be back) and sends its paused events to the workers at once:
// the resume, its alert and the re-drives commit together, through the
// outbox, so none is lost if this process dies next.
func (s *Service) ResumeVendor(ctx context.Context, vendor string) (ResumeResult, error) {
	var v ValidationError
	if !validName(vendor, 64) {
		v.add("vendor", "must be 1-64 printable characters without spaces")
	}
	if err := v.err(); err != nil {
		return ResumeResult{}, err
	}
	now := s.now()
	alerts := map[string]store.OutboxMessage{}
	for kind, text := range map[string]string{
		"credentials_accepted": "resumed by an operator (credentials fixed)",
		"vendor_available":     "resumed by an operator",
	} {
		subject, id, data := bus.AlertMessage(bus.Alert{Vendor: vendor, Kind: kind, Message: text, At: now.UTC()})
		alerts[kind] = store.OutboxMessage{Subject: subject, MsgID: id, Payload: data}
	}
	c, err := s.store.ResumeVendor(ctx, vendor, bus.RegistrationSubject(vendor), "resume:"+uuid.NewString(), alerts)
	if err != nil || c == nil {
		return ResumeResult{Vendor: vendor}, err
	}
	s.nudge()
	s.m.Redriven.WithLabelValues("resume").Add(float64(c.Redriven))
	s.log.Info("vendor resumed by an operator", "vendor", vendor, "was", c.Kind, "requeued", c.Redriven)
	return ResumeResult{Vendor: vendor, Resumed: true, Requeued: c.Redriven}, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
