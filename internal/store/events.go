package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	LastError     *string
	OccurredAt    *time.Time
	Metadata      json.RawMessage
	APIKey        *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ConfirmedAt   *time.Time
}

// NewEvent is an event as the worker first sees it on the bus.
type NewEvent struct {
	ID         uuid.UUID
	Vendor     string
	MessageID  string
	OccurredAt *time.Time
	Metadata   json.RawMessage
	APIKey     string
}

var eventColumnNames = []string{"id", "vendor", "message_id", "state", "attempts", "budget_used", "next_attempt_at",
	"vendor_code", "last_error", "occurred_at", "metadata", "api_key", "created_at", "updated_at", "confirmed_at"}

var eventColumns = columns("")

// columns lists the event columns for scanEvent, each qualified by prefix.
func columns(prefix string) string {
	var b strings.Builder
	for i, c := range eventColumnNames {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(c)
	}
	return b.String()
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	var state string
	err := row.Scan(&e.ID, &e.Vendor, &e.MessageID, &state, &e.Attempts, &e.BudgetUsed, &e.NextAttemptAt,
		&e.VendorCode, &e.LastError, &e.OccurredAt, &e.Metadata, &e.APIKey, &e.CreatedAt, &e.UpdatedAt, &e.ConfirmedAt)
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
	ids := make([]uuid.UUID, len(evs))
	vendors := make([]string, len(evs))
	msgIDs := make([]string, len(evs))
	occurred := make([]*time.Time, len(evs))
	metadata := make([]*string, len(evs))
	keys := make([]*string, len(evs))
	for i, e := range evs {
		ids[i], vendors[i], msgIDs[i], occurred[i] = e.ID, e.Vendor, e.MessageID, e.OccurredAt
		if len(e.Metadata) > 0 && string(e.Metadata) != "null" {
			m := string(e.Metadata)
			metadata[i] = &m
		}
		if e.APIKey != "" {
			k := e.APIKey
			keys[i] = &k
		}
	}
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
		SELECT `+eventColumns+` FROM events WHERE id = ANY($1::uuid[])`,
		rawUUIDs(ids), vendors, msgIDs, occurred, metadata, keys)
	if err != nil {
		return nil, fmt.Errorf("store: upsert events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: upsert events: %w", err)
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
	rows, err := db.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ANY($1::uuid[])`, rawUUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// Event returns one event, or ErrNotFound.
func (s *Store) Event(ctx context.Context, id uuid.UUID) (Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id)
	if err != nil {
		return Event{}, fmt.Errorf("store: event: %w", err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	if err != nil {
		return Event{}, fmt.Errorf("store: event: %w", err)
	}
	return e, nil
}

// KnownIDs returns which of ids are already recorded.
func (s *Store) KnownIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM events WHERE id = ANY($1::uuid[])`, rawUUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("store: known ids: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("store: known ids: %w", err)
	}
	m := make(map[uuid.UUID]bool, len(found))
	for _, id := range found {
		m[id] = true
	}
	return m, nil
}

// Attempt is one vendor call, as recorded. Error must already be free of
// secrets: the vendor clients never put one in an error.
type Attempt struct {
	// CallID identifies the call; recording the same call twice is a no-op.
	CallID     uuid.UUID
	EventID    uuid.UUID
	Attempt    int
	StartedAt  time.Time
	Duration   time.Duration
	HTTPStatus *int
	VendorCode *int
	Outcome    string
	Error      string
}

// Result is what the worker decided for one event.
type Result struct {
	EventID uuid.UUID
	State   State
	// Call is the vendor call made, nil when none was (vendor paused).
	Call *Attempt
	// SpendsBudget is false for calls that must not count towards
	// RELAY_MAX_ATTEMPTS (rejected credentials).
	SpendsBudget  bool
	NextAttemptAt *time.Time
	LastError     string
}

// RecordResults writes the attempts and the new states of a batch in one
// transaction and returns the rows as they are after it. A final state is
// never undone by a late result: confirmed stays confirmed, and a failed or
// already_confirmed event only moves to a success state. Running it again
// after a commit whose answer was lost changes nothing: each call is
// recorded once, by its CallID.
func (s *Store) RecordResults(ctx context.Context, results []Result) ([]Event, error) {
	if len(results) == 0 {
		return nil, nil
	}
	var out []Event
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the rows, in id order, before deciding anything: the
		// UPDATE below then reads the states committed by whoever held
		// them before us. Deciding from a snapshot taken before waiting
		// for a lock let a late already_confirmed overwrite confirmed.
		ids := make([]uuid.UUID, len(results))
		for i, r := range results {
			ids[i] = r.EventID
		}
		sorted := append([]uuid.UUID(nil), ids...)
		slices.SortFunc(sorted, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		if _, err := tx.Exec(ctx, `SELECT 1 FROM events WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, rawUUIDs(sorted)); err != nil {
			return fmt.Errorf("store: lock events: %w", err)
		}
		recorded, err := insertAttempts(ctx, tx, results)
		if err != nil {
			return err
		}
		var todo []Result
		var done []uuid.UUID
		for _, r := range results {
			if r.Call != nil && !recorded[r.Call.CallID] {
				done = append(done, r.EventID) // recorded by an earlier try
				continue
			}
			todo = append(todo, r)
		}
		out, err = updateStates(ctx, tx, todo)
		if err != nil {
			return err
		}
		if len(done) > 0 {
			more, err := s.events(ctx, tx, done)
			if err != nil {
				return err
			}
			out = append(out, more...)
		}
		return nil
	})
	return out, err
}

// insertAttempts records the calls of results and returns the CallIDs it
// inserted; a CallID already present was recorded by an earlier try.
func insertAttempts(ctx context.Context, tx pgx.Tx, results []Result) (map[uuid.UUID]bool, error) {
	var (
		callIDs, eventIDs []uuid.UUID
		numbers           []int32
		started           []time.Time
		durations         []float64
		statuses, codes   []*int32
		outcomes          []string
		errs              []*string
	)
	for i := range results {
		c := results[i].Call
		if c == nil {
			continue
		}
		if c.CallID == uuid.Nil {
			c.CallID = uuid.New()
		}
		callIDs = append(callIDs, c.CallID)
		eventIDs = append(eventIDs, c.EventID)
		numbers = append(numbers, int32(c.Attempt))
		started = append(started, c.StartedAt)
		durations = append(durations, float64(c.Duration.Microseconds())/1000)
		statuses = append(statuses, int32Ptr(c.HTTPStatus))
		codes = append(codes, int32Ptr(c.VendorCode))
		outcomes = append(outcomes, c.Outcome)
		errs = append(errs, nonEmpty(c.Error))
	}
	recorded := make(map[uuid.UUID]bool, len(callIDs))
	if len(callIDs) == 0 {
		return recorded, nil
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO attempts (call_id, event_id, attempt, started_at, duration_ms, http_status, vendor_code, outcome, error)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[], $5::float8[], $6::int[], $7::int[], $8::text[], $9::text[])
		ON CONFLICT (call_id) DO NOTHING
		RETURNING call_id`,
		rawUUIDs(callIDs), rawUUIDs(eventIDs), numbers, started, durations, statuses, codes, outcomes, errs)
	if err != nil {
		return nil, fmt.Errorf("store: record attempts: %w", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("store: record attempts: %w", err)
	}
	for _, id := range inserted {
		recorded[id] = true
	}
	return recorded, nil
}

func updateStates(ctx context.Context, tx pgx.Tx, results []Result) ([]Event, error) {
	if len(results) == 0 {
		return nil, nil
	}
	n := len(results)
	ids := make([]uuid.UUID, n)
	states := make([]string, n)
	calls := make([]int32, n)
	budget := make([]int32, n)
	next := make([]*time.Time, n)
	codes := make([]*int32, n)
	errs := make([]*string, n)
	for i, r := range results {
		ids[i], states[i], next[i], errs[i] = r.EventID, string(r.State), r.NextAttemptAt, nonEmpty(r.LastError)
		if c := r.Call; c != nil {
			calls[i] = 1
			if r.SpendsBudget {
				budget[i] = 1
			}
			codes[i] = int32Ptr(c.VendorCode)
		}
	}
	rows, err := tx.Query(ctx, `
		WITH u AS (
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::int[], $7::text[])
				AS u(id, state, calls, budget, next_at, code, err)
		), decided AS (
			SELECT u.*, CASE
				WHEN e.state = 'confirmed' THEN e.state
				WHEN e.state IN ('already_confirmed', 'failed')
					AND u.state NOT IN ('confirmed', 'already_confirmed') THEN e.state
				WHEN e.state = 'already_confirmed' AND u.state = 'already_confirmed' THEN e.state
				ELSE u.state END AS new_state,
				e.state AS old_state
			FROM u JOIN events e ON e.id = u.id
		)
		UPDATE events e SET
			state           = d.new_state,
			attempts        = e.attempts + d.calls,
			budget_used     = e.budget_used + d.budget,
			next_attempt_at = CASE WHEN d.new_state IN ('retrying', 'paused') THEN d.next_at ELSE NULL END,
			vendor_code     = CASE WHEN d.calls > 0 THEN d.code ELSE e.vendor_code END,
			last_error      = CASE WHEN d.new_state IN ('confirmed', 'already_confirmed') THEN NULL
			                       WHEN d.new_state <> d.old_state OR d.calls > 0 THEN d.err ELSE e.last_error END,
			confirmed_at    = CASE WHEN d.new_state IN ('confirmed', 'already_confirmed') AND d.new_state <> d.old_state
			                       THEN coalesce(e.confirmed_at, now()) ELSE e.confirmed_at END,
			updated_at      = now()
		FROM decided d WHERE e.id = d.id
		RETURNING `+columns("e."),
		rawUUIDs(ids), states, calls, budget, next, codes, errs)
	if err != nil {
		return nil, fmt.Errorf("store: record results: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: record results: %w", err)
	}
	return out, nil
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

func int32Ptr(p *int) *int32 {
	if p == nil {
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
	rows, err := s.pool.Query(ctx, `SELECT event_id, attempt, started_at, duration_ms, http_status, vendor_code, outcome, coalesce(error, '')
		FROM attempts WHERE event_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		var ms float64
		err := row.Scan(&a.EventID, &a.Attempt, &a.StartedAt, &ms, &a.HTTPStatus, &a.VendorCode, &a.Outcome, &a.Error)
		a.Duration = time.Duration(ms * float64(time.Millisecond))
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: attempts: %w", err)
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
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	return out, nil
}
