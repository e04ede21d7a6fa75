package store

import (
	"context"
	"time"
)

// RedriveOptions select what the reconciler sends back to the workers.
type RedriveOptions struct {
	// Vendors are those the reconciler's process can call; events of other
	// vendors wait for a process that can.
	Vendors []string
	// SubjectPrefix is prepended to the vendor to make the subject.
	SubjectPrefix string
	// Grace is how overdue an event must be: a pending event without
	// progress for Grace, a retrying event Grace past its next attempt.
	// An event is re-driven at most once per Grace.
	Grace time.Duration
	// Probe is RELAY_PAUSE_PROBE: a paused vendor gets one of its paused
	// events re-driven per Probe, for the probe call.
	Probe time.Duration
	// Limit bounds the events of one pass.
	Limit int
	// Tag distinguishes this pass's message ids from earlier passes'.
	Tag string
}

// Redrive finds the events that are not final and are due, unclaimed, and
// writes an outbox row re-driving each (marking it redriven_at): pending
// without progress, retrying past its next attempt, paused while its vendor
// runs; and, per paused vendor whose probe is due, one paused event to
// probe with. The bus may have lost their messages (expired, purged, a
// node lost): PostgreSQL is what is owed. It returns how many it wrote.
func (s *Store) Redrive(ctx context.Context, o RedriveOptions) (int, error) {
	grace, probe := o.Grace.Milliseconds(), o.Probe.Milliseconds()
	tag, err := s.pool.Exec(ctx, `
		WITH due AS (
			SELECT e.id, e.vendor FROM events e
			LEFT JOIN vendor_status v ON v.vendor = e.vendor
			WHERE e.state IN ('pending', 'retrying', 'paused')
			  AND e.vendor = ANY($1::text[])
			  AND (e.claimed_until IS NULL OR e.claimed_until < now())
			  AND (e.redriven_at IS NULL OR e.redriven_at < now() - $3::bigint * interval '1 millisecond')
			  AND CASE e.state
			        WHEN 'pending'  THEN e.updated_at < now() - $3::bigint * interval '1 millisecond'
			        WHEN 'retrying' THEN coalesce(e.next_attempt_at, e.updated_at) < now() - $3::bigint * interval '1 millisecond'
			        ELSE NOT coalesce(v.paused, false) END
			ORDER BY e.updated_at, e.id
			LIMIT $5
			FOR UPDATE OF e SKIP LOCKED
		), probes AS (
			SELECT p.id, p.vendor FROM vendor_status v
			CROSS JOIN LATERAL (
				SELECT e.id, e.vendor FROM events e
				WHERE e.vendor = v.vendor AND e.state = 'paused'
				  AND (e.redriven_at IS NULL OR e.redriven_at < now() - $4::bigint * interval '1 millisecond')
				  AND (e.claimed_until IS NULL OR e.claimed_until < now())
				ORDER BY e.updated_at, e.id LIMIT 1
				FOR UPDATE SKIP LOCKED) p
			WHERE v.paused AND v.vendor = ANY($1::text[])
			  AND (v.probe_at IS NULL OR v.probe_at <= now() - $4::bigint * interval '1 millisecond')
		), picked AS (
			SELECT * FROM due UNION SELECT * FROM probes
		), touched AS (
			UPDATE events e SET redriven_at = now() FROM picked WHERE e.id = picked.id RETURNING e.id, e.vendor
		)
		INSERT INTO outbox (subject, msg_id, event_id)
		SELECT $2 || vendor, id::text || ':redrive:' || $6, id FROM touched
		ON CONFLICT (msg_id) DO NOTHING`,
		o.Vendors, o.SubjectPrefix, grace, probe, o.Limit, o.Tag)
	if err != nil {
		return 0, wrap("re-drive", err)
	}
	return int(tag.RowsAffected()), nil
}
