package store

// Retention: deleting what is final and old, in small batches, for the
// janitor (internal/retention). Each call is one short statement; rows
// another transaction holds are skipped, never waited for.

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PurgedEvents counts the rows one PurgeEvents call deleted.
type PurgedEvents struct {
	Events, Attempts, ReplayEvents int64
}

// PurgeEvents deletes up to limit final events (confirmed,
// already_confirmed, failed) last updated before cutoff, with their
// attempts and replay_events rows. The state is checked on the row it
// locks, so an event a replay or a worker moved out of a final state is
// never deleted, and one it holds is skipped.
func (s *Store) PurgeEvents(ctx context.Context, cutoff time.Time, limit int) (PurgedEvents, error) {
	var p PurgedEvents
	// The child rows are deleted explicitly (the cascade would too) so
	// that the statement can count them.
	err := s.pool.QueryRow(ctx, `
		WITH doomed AS (
			SELECT id FROM events
			WHERE state IN ('confirmed', 'already_confirmed', 'failed') AND updated_at < $1
			ORDER BY state, updated_at, id
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		), a AS (
			DELETE FROM attempts WHERE event_id IN (SELECT id FROM doomed) RETURNING 1
		), r AS (
			DELETE FROM replay_events WHERE event_id IN (SELECT id FROM doomed) RETURNING 1
		), e AS (
			DELETE FROM events WHERE id IN (SELECT id FROM doomed) RETURNING 1
		)
		SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM a), (SELECT count(*) FROM r)`,
		cutoff, limit).Scan(&p.Events, &p.Attempts, &p.ReplayEvents)
	if err != nil {
		return PurgedEvents{}, fmt.Errorf("store: purge events: %w", err)
	}
	return p, nil
}

// PurgeMessages deletes up to limit tracked messages whose status is
// final (delivered, failed, expired) since before cutoff and whose report
// event was published; a message still owing its report stays.
func (s *Store) PurgeMessages(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM messages WHERE id IN (
			SELECT id FROM messages
			WHERE status IN ('delivered', 'failed', 'expired') AND published_at IS NOT NULL AND final_at < $1
			ORDER BY final_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("store: purge messages: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PurgeOutbox deletes up to limit outbox rows published before cutoff;
// unpublished rows stay whatever their age.
func (s *Store) PurgeOutbox(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM outbox WHERE seq IN (
			SELECT seq FROM outbox
			WHERE published_at IS NOT NULL AND published_at < $1
			ORDER BY published_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("store: purge outbox: %w", err)
	}
	return tag.RowsAffected(), nil
}

// VacuumWhereNoAutovacuum vacuums (and analyzes) tables when the server
// runs without autovacuum, and reports whether it did. Deleted rows leave
// dead space that only a vacuum makes reusable: without one, a table
// whose old rows the janitor deletes still grows at the rate of its
// inserts, and relay's footprint never stops growing. With autovacuum on
// (the default, and the per-table settings of sql/008) it does nothing.
func (s *Store) VacuumWhereNoAutovacuum(ctx context.Context, tables []string) (bool, error) {
	var on string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')`).Scan(&on); err != nil {
		return false, wrap("autovacuum setting", err)
	}
	if on == "on" {
		return false, nil
	}
	for _, t := range tables {
		// VACUUM runs outside a transaction: pool.Exec sends it alone.
		if _, err := s.pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
			return false, wrap("vacuum "+t, err)
		}
	}
	return true, nil
}
