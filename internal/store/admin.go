package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// StateCount is how many events of one vendor are in one state.
type StateCount struct {
	Vendor string
	State  State
	Count  int64
}

// CountEvents counts the events by vendor and state in one GROUP BY.
func (s *Store) CountEvents(ctx context.Context) ([]StateCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT vendor, state, count(*) FROM events GROUP BY vendor, state ORDER BY vendor, state`)
	if err != nil {
		return nil, wrap("count events", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StateCount, error) {
		var c StateCount
		var state string
		err := row.Scan(&c.Vendor, &state, &c.Count)
		c.State = State(state)
		return c, err
	})
	if err != nil {
		return nil, wrap("count events", err)
	}
	return out, nil
}

// ResetForReplay gives the events ids a fresh start: state pending, retry
// budget unspent, no scheduled attempt, a new generation (so a batch in
// flight with the old one cannot undo the reset). attempts keeps counting
// and last_error stays as the record of what went wrong. Events that
// succeeded are left alone unless force is set; the check is part of the
// UPDATE, so an event confirmed since the caller looked is not reset.
// Rows are locked in id order, as the workers lock them, so a replay during
// traffic never deadlocks. In the same statement each event reset is
// recorded under replayID and written to the outbox, re-driving it to
// subjectPrefix+vendor: a replay that commits is published even if its
// process dies next. The ids reset are returned.
func (s *Store) ResetForReplay(ctx context.Context, replayID uuid.UUID, ids []uuid.UUID, force bool, subjectPrefix string) ([]uuid.UUID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		WITH locked AS (
			SELECT id FROM events
			WHERE id = ANY($1::uuid[]) AND ($2 OR state NOT IN ('confirmed', 'already_confirmed'))
			ORDER BY id FOR UPDATE
		), r AS (
			UPDATE events e SET state = 'pending', budget_used = 0, next_attempt_at = NULL,
				generation = e.generation + 1, redriven_at = now(), updated_at = now()
			FROM locked WHERE e.id = locked.id AND ($2 OR e.state NOT IN ('confirmed', 'already_confirmed'))
			RETURNING e.id, e.vendor
		), ob AS (
			INSERT INTO outbox (subject, msg_id, event_id)
			SELECT $4 || r.vendor, r.id::text || ':replay:' || $3::text, r.id FROM r
			ON CONFLICT (msg_id) DO NOTHING
		)
		INSERT INTO replay_events (replay_id, event_id) SELECT $3::uuid, id FROM r
		ON CONFLICT DO NOTHING
		RETURNING event_id`, rawUUIDs(ids), force, replayID, subjectPrefix)
	if err != nil {
		return nil, wrap("reset for replay", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, wrap("reset for replay", err)
	}
	return out, nil
}

// ReplayedEvents lists the events replay id has reset so far.
func (s *Store) ReplayedEvents(ctx context.Context, replayID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT event_id FROM replay_events WHERE replay_id = $1 ORDER BY event_id`, replayID)
	if err != nil {
		return nil, wrap("replayed events", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, wrap("replayed events", err)
	}
	return out, nil
}

// Replay statuses.
const (
	ReplayRunning = "running"
	ReplayDone    = "done"
	ReplayFailed  = "failed"
)

// Replay is the record of one replay request.
type Replay struct {
	ID             uuid.UUID
	IdempotencyKey *string
	RequestHash    []byte
	Actor          string
	Request        json.RawMessage
	DryRun         bool
	Force          bool
	Status         string
	Matched        int
	Replayed       int
	// Result is the answer given, set when the replay is done.
	Result     json.RawMessage
	Error      *string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

const replayColumns = `id, idempotency_key, request_hash, actor, request, dry_run, force, status,
	matched, replayed, result, error, created_at, updated_at, finished_at`

func scanReplay(row pgx.CollectableRow) (Replay, error) {
	var r Replay
	err := row.Scan(&r.ID, &r.IdempotencyKey, &r.RequestHash, &r.Actor, &r.Request, &r.DryRun, &r.Force, &r.Status,
		&r.Matched, &r.Replayed, &r.Result, &r.Error, &r.CreatedAt, &r.UpdatedAt, &r.FinishedAt)
	return r, err
}

// ErrReplayTaken is returned by BeginReplay when the Idempotency-Key
// belongs to a replay the caller may not run: finished, running elsewhere,
// or made for another request. The existing row comes with it.
var ErrReplayTaken = errors.New("idempotency key taken")

// BeginReplay records r as running and returns the row the caller now owns.
// With an idempotency key already used, the caller owns the existing row
// (same id, so its messages collapse with those already sent) only when
// that replay failed, or ran with the same request and stopped reporting
// progress for stale (its process died); otherwise the existing row is
// returned with ErrReplayTaken.
func (s *Store) BeginReplay(ctx context.Context, r Replay, stale time.Duration) (Replay, error) {
	rows, err := s.pool.Query(ctx, `
		INSERT INTO replays (id, idempotency_key, request_hash, actor, request, dry_run, force)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (idempotency_key) DO UPDATE SET status = 'running', error = NULL, result = NULL,
			updated_at = now(), finished_at = NULL
		WHERE replays.request_hash = EXCLUDED.request_hash
		  AND (replays.status = 'failed' OR (replays.status = 'running' AND replays.updated_at < now() - $8::float8 * interval '1 second'))
		RETURNING `+replayColumns,
		r.ID, r.IdempotencyKey, r.RequestHash, r.Actor, r.Request, r.DryRun, r.Force, stale.Seconds())
	if err != nil {
		return Replay{}, wrap("begin replay", err)
	}
	got, err := pgx.CollectExactlyOneRow(rows, scanReplay)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Replay{}, wrap("begin replay", err)
	}
	if r.IdempotencyKey == nil {
		return Replay{}, fmt.Errorf("store: begin replay: no row returned")
	}
	existing, err := s.ReplayByKey(ctx, *r.IdempotencyKey)
	if err != nil {
		return Replay{}, err
	}
	return existing, ErrReplayTaken
}

// ReplayProgress records a running replay's counts; it doubles as the
// heartbeat that keeps a retry from taking the replay over.
func (s *Store) ReplayProgress(ctx context.Context, id uuid.UUID, matched, replayed int) error {
	_, err := s.pool.Exec(ctx, `UPDATE replays SET matched = $2, replayed = $3, updated_at = now() WHERE id = $1`,
		id, matched, replayed)
	if err != nil {
		return wrap("replay progress", err)
	}
	return nil
}

// FinishReplay records the end of replay id: status done or failed, its
// counts, the answer given (nil for a failure) and the error.
func (s *Store) FinishReplay(ctx context.Context, id uuid.UUID, status string, matched, replayed int, result json.RawMessage, errText string) (Replay, error) {
	var e *string
	if errText != "" {
		e = &errText
	}
	rows, err := s.pool.Query(ctx, `UPDATE replays SET status = $2, matched = $3, replayed = $4, result = $5, error = $6,
		updated_at = now(), finished_at = now()
		WHERE id = $1 RETURNING `+replayColumns, id, status, matched, replayed, result, e)
	if err != nil {
		return Replay{}, wrap("finish replay", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanReplay)
	if errors.Is(err, pgx.ErrNoRows) {
		return Replay{}, ErrNotFound
	}
	if err != nil {
		return Replay{}, wrap("finish replay", err)
	}
	return r, nil
}

// ReplayByKey returns the replay made with an Idempotency-Key, or
// ErrNotFound.
func (s *Store) ReplayByKey(ctx context.Context, key string) (Replay, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+replayColumns+` FROM replays WHERE idempotency_key = $1`, key)
	if err != nil {
		return Replay{}, wrap("replay", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanReplay)
	if errors.Is(err, pgx.ErrNoRows) {
		return Replay{}, ErrNotFound
	}
	if err != nil {
		return Replay{}, wrap("replay", err)
	}
	return r, nil
}

// Replays lists the most recent replays, newest first.
func (s *Store) Replays(ctx context.Context, limit int) ([]Replay, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.pool.Query(ctx, `SELECT `+replayColumns+` FROM replays ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, wrap("replays", err)
	}
	out, err := pgx.CollectRows(rows, scanReplay)
	if err != nil {
		return nil, wrap("replays", err)
	}
	return out, nil
}
