package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// State is where an event stands in its confirmation.
type State string

// The states of an event. Confirmed, AlreadyConfirmed and Failed are final:
// the worker acks a message whose event is final without calling the vendor.
const (
	StatePending          State = "pending"
	StateRetrying         State = "retrying"
	StatePaused           State = "paused"
	StateConfirmed        State = "confirmed"
	StateAlreadyConfirmed State = "already_confirmed"
	StateFailed           State = "failed"
)

// Final reports whether no more vendor calls are due for the state.
func (s State) Final() bool {
	return s == StateConfirmed || s == StateAlreadyConfirmed || s == StateFailed
}

// Succeeded reports whether the vendor has recorded the conversion.
func (s State) Succeeded() bool { return s == StateConfirmed || s == StateAlreadyConfirmed }

// Event is one registration as PostgreSQL knows it.
type Event struct {
	ID            uuid.UUID
	Vendor        string
	MessageID     string
	State         State
	Attempts      int
	BudgetUsed    int
	NextAttemptAt *time.Time
	VendorCode    *int
	// VendorStatus is the vendor's own code or status of the last answer,
	// as it wrote it ("1000", "ThrottlingException", "HTTP 503"); nil
	// until a vendor answered.
	VendorStatus *string
	LastError    *string
	OccurredAt   *time.Time
	Metadata     json.RawMessage
	APIKey       *string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ConfirmedAt  *time.Time
	// Generation moves on every replay reset; a batch's result computed
	// for an older generation can record its call and a success only.
	Generation int
	// ClaimedUntil is when the claim of the batch handling the event runs
	// out; nil when no batch holds it.
	ClaimedUntil *time.Time
}

// NewEvent is an event as the worker first sees it on the bus.
type NewEvent struct {
	ID         uuid.UUID
	Vendor     string
	MessageID  string
	OccurredAt *time.Time
	Metadata   json.RawMessage
	APIKey     string
	// AcceptedAt is when ingest accepted the event; ClaimEvents records it
	// as the event's created_at (zero: now), so that a backlog drained
	// hours later still knows when the conversion was reported.
	AcceptedAt time.Time
}

var eventColumnNames = []string{"id", "vendor", "message_id", "state", "attempts", "budget_used", "next_attempt_at",
	"vendor_code", "vendor_status", "last_error", "occurred_at", "metadata", "api_key", "created_at", "updated_at", "confirmed_at",
	"generation", "claimed_until"}

var eventColumns = columns("")

// columns lists the event columns for scanEvent, each qualified by prefix.
func columns(prefix string) string {
	var b strings.Builder
	for i, c := range eventColumnNames {
		if i > 0 {
			b.WriteString(", ")
		}
		if c == "vendor_status" {
			b.WriteString(statusColumn(prefix) + " AS vendor_status")
			continue
		}
		b.WriteString(prefix)
		b.WriteString(c)
	}
	return b.String()
}

// statusColumn reads vendor_status of a row written before the column
// existed as its vendor_code's text: the code as the vendor wrote it.
// Computed when read, so that adding the column rewrote no table.
func statusColumn(prefix string) string {
	return "coalesce(" + prefix + "vendor_status, " + prefix + "vendor_code::text)"
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	var state string
	err := row.Scan(&e.ID, &e.Vendor, &e.MessageID, &state, &e.Attempts, &e.BudgetUsed, &e.NextAttemptAt,
		&e.VendorCode, &e.VendorStatus, &e.LastError, &e.OccurredAt, &e.Metadata, &e.APIKey, &e.CreatedAt, &e.UpdatedAt, &e.ConfirmedAt,
		&e.Generation, &e.ClaimedUntil)
	e.State = State(state)
	return e, err
}

// UpsertEvents inserts the events not yet known and returns the current row
// of every given id (in no particular order), in one round trip for the
// common case.
func (s *Store) UpsertEvents(ctx context.Context, db DBTX, evs []NewEvent) ([]Event, error) {
	if db == nil {
		db = s.pool
	}
	if len(evs) == 0 {
		return nil, nil
	}
	ids, vendors, msgIDs, occurred, metadata, keys := newEventColumns(evs)
	// The second SELECT reads the statement's snapshot, which does not
	// include the rows the CTE inserts: the two halves never overlap.
	rows, err := db.Query(ctx, `
		WITH ins AS (
			INSERT INTO events (id, vendor, message_id, occurred_at, metadata, api_key)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]::jsonb[], $6::text[])
			ON CONFLICT DO NOTHING
			RETURNING `+eventColumns+`)
		SELECT `+eventColumns+` FROM ins
		UNION ALL
		SELECT `+columns("e.")+` FROM `+byID("SELECT DISTINCT id FROM unnest($1::uuid[]) AS u(id)", "*"),
		rawUUIDs(ids), vendors, msgIDs, occurred, metadata, keys)
	if err != nil {
		return nil, wrap("upsert events", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, wrap("upsert events", err)
	}
	if len(out) < len(uniqueIDs(ids)) {
		// A concurrent transaction inserted some of them after our
		// snapshot was taken; they are committed now.
		have := make(map[uuid.UUID]bool, len(out))
		for _, e := range out {
			have[e.ID] = true
		}
		var missing []uuid.UUID
		for _, id := range ids {
			if !have[id] {
				missing = append(missing, id)
				have[id] = true
			}
		}
		more, err := s.events(ctx, db, missing)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

func uniqueIDs(ids []uuid.UUID) map[uuid.UUID]struct{} {
	m := make(map[uuid.UUID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

func (s *Store) events(ctx context.Context, db DBTX, ids []uuid.UUID) ([]Event, error) {
	rows, err := db.Query(ctx, `SELECT `+columns("e.")+` FROM `+byID("SELECT DISTINCT id FROM unnest($1::uuid[]) AS u(id)", "*"), rawUUIDs(ids))
	if err != nil {
		return nil, wrap("events", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, wrap("events", err)
	}
	return out, nil
}

// Event returns one event, or ErrNotFound.
func (s *Store) Event(ctx context.Context, id uuid.UUID) (Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id)
	if err != nil {
		return Event{}, wrap("event", err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	if err != nil {
		return Event{}, wrap("event", err)
	}
	return e, nil
}

// KnownIDs returns which of ids are already recorded.
func (s *Store) KnownIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.id FROM `+byID("SELECT id FROM unnest($1::uuid[]) AS u(id)", "id"), rawUUIDs(ids))
	if err != nil {
		return nil, wrap("known ids", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, wrap("known ids", err)
	}
	m := make(map[uuid.UUID]bool, len(found))
	for _, id := range found {
		m[id] = true
	}
	return m, nil
}

// rawUUIDs hands pgx the ids as [16]byte, which it encodes as binary
// uuids directly; uuid.UUID goes through driver.Valuer and a string per id
// (a tenth of ingest's CPU in the profile).
func rawUUIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// int32Ptr converts for an integer column. A value no integer column
// holds (a vendor's code of eleven digits) is stored as NULL, unknown,
// rather than wrapped around into a wrong number.
func int32Ptr(p *int) *int32 {
	if p == nil || *p < math.MinInt32 || *p > math.MaxInt32 {
		return nil
	}
	v := int32(*p)
	return &v
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Attempts lists the vendor calls of one event, oldest first.
func (s *Store) Attempts(ctx context.Context, id uuid.UUID) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT event_id, attempt, started_at, duration_ms, http_status, vendor_code,
			coalesce(`+statusColumn("")+`, ''), outcome, coalesce(error, '')
		FROM attempts WHERE event_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, wrap("attempts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		var ms float64
		err := row.Scan(&a.EventID, &a.Attempt, &a.StartedAt, &ms, &a.HTTPStatus, &a.VendorCode, &a.VendorStatus, &a.Outcome, &a.Error)
		a.Duration = time.Duration(ms * float64(time.Millisecond))
		return a, err
	})
	if err != nil {
		return nil, wrap("attempts", err)
	}
	return out, nil
}

// Filter selects events for listings and replays. Zero fields match all.
type Filter struct {
	States    []State
	Vendor    string
	MessageID string
	Since     *time.Time // created_at >= Since
	Until     *time.Time // created_at < Until
	IDs       []uuid.UUID
	// After is the keyset cursor: events strictly after (created_at, id).
	After *Cursor
	// Limit bounds the page; 0 means 100.
	Limit int
}

// Cursor is a position in the (created_at, id) order.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ListEvents returns one page of events matching f in (created_at, id)
// order, which is stable under inserts: a new event never shifts a page.
func (s *Store) ListEvents(ctx context.Context, f Filter) ([]Event, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		where = append(where, "state = ANY("+arg(states)+"::text[])")
	}
	if f.Vendor != "" {
		where = append(where, "vendor = "+arg(f.Vendor))
	}
	if f.MessageID != "" {
		where = append(where, "message_id = "+arg(f.MessageID))
	}
	if f.Since != nil {
		where = append(where, "created_at >= "+arg(*f.Since))
	}
	if f.Until != nil {
		where = append(where, "created_at < "+arg(*f.Until))
	}
	if len(f.IDs) > 0 {
		where = append(where, "id = ANY("+arg(f.IDs)+"::uuid[])")
	}
	if f.After != nil {
		where = append(where, "(created_at, id) > ("+arg(f.After.CreatedAt)+", "+arg(f.After.ID)+")")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT " + eventColumns + " FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list events", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, wrap("list events", err)
	}
	return out, nil
}
