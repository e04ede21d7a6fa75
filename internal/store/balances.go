package store

// Balance monitor storage: latest readings with their low-balance state,
// history, leases, per-vendor alert flags and the alert outbox.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// BalanceReading is one balance figure of a vendor.
type BalanceReading struct {
	Vendor string
	// Kind is the figure's name: "balance", "gift", "credit" (Laaffic,
	// Itniotech) or "dev_balance", "app_voice", ... (JPush).
	Kind string
	// Value is exact; nil where the vendor says "not allocated".
	Value     *decimal.Decimal
	CheckedAt time.Time
	// Below is the low-balance state: the value is under its threshold.
	Below bool
}

// InTx runs fn in one transaction, committed when fn returns nil and
// rolled back otherwise. fn's db is the transaction, for the methods that
// take a DBTX.
func (s *Store) InTx(ctx context.Context, fn func(db DBTX) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// RecordBalances stores one poll's readings of vendor: the latest row per
// kind (value, checked_at and the low-balance state given in Below) and a
// history row each. It returns the kinds whose low-balance state turned
// from false (or no row yet) to true: those alert, once per crossing.
// Kinds of vendor not among readings are left as they were. Run it in a
// transaction (InTx) with the alerts it causes.
func (s *Store) RecordBalances(ctx context.Context, db DBTX, vendor string, readings []BalanceReading) (crossed []string, err error) {
	if db == nil {
		db = s.pool
	}
	if len(readings) == 0 {
		return nil, nil
	}
	n := len(readings)
	kinds := make([]string, n)
	values := make([]*string, n)
	checked := make([]time.Time, n)
	below := make([]bool, n)
	for i, r := range readings {
		kinds[i], checked[i], below[i] = r.Kind, r.CheckedAt, r.Below
		if r.Value != nil {
			v := r.Value.String()
			values[i] = &v
		}
	}
	// Values first; the low-balance state then moves with conditional
	// UPDATEs, so that each transition is seen by exactly one writer
	// however many race (the row lock makes the second re-check NOT below).
	if _, err := db.Exec(ctx, `
		WITH u AS (
			SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS u(kind, value, checked_at)
		), hist AS (
			INSERT INTO balance_history (vendor, kind, value, checked_at)
			SELECT $1, u.kind, u.value::numeric, u.checked_at FROM u
		)
		INSERT INTO balances AS b (vendor, kind, value, checked_at)
		SELECT $1, u.kind, u.value::numeric, u.checked_at FROM u
		ON CONFLICT (vendor, kind) DO UPDATE SET value = EXCLUDED.value, checked_at = EXCLUDED.checked_at`,
		vendor, kinds, values, checked); err != nil {
		return nil, wrap("record balances", err)
	}
	var low, high []string
	for i, k := range kinds {
		if below[i] {
			low = append(low, k)
		} else {
			high = append(high, k)
		}
	}
	if len(high) > 0 {
		if _, err := db.Exec(ctx, `UPDATE balances SET below = false WHERE vendor = $1 AND kind = ANY($2) AND below`, vendor, high); err != nil {
			return nil, wrap("record balances", err)
		}
	}
	if len(low) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `UPDATE balances SET below = true WHERE vendor = $1 AND kind = ANY($2) AND NOT below RETURNING kind`, vendor, low)
	if err != nil {
		return nil, wrap("record balances", err)
	}
	crossed, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap("record balances", err)
	}
	sort.Strings(crossed)
	return crossed, nil
}

// LatestBalances lists the latest reading of every (vendor, kind), ordered
// by vendor and kind.
func (s *Store) LatestBalances(ctx context.Context) ([]BalanceReading, error) {
	rows, err := s.pool.Query(ctx, `SELECT vendor, kind, value::text, checked_at, below FROM balances ORDER BY vendor, kind`)
	if err != nil {
		return nil, wrap("latest balances", err)
	}
	out, err := pgx.CollectRows(rows, scanBalance)
	if err != nil {
		return nil, wrap("latest balances", err)
	}
	return out, nil
}

// BalanceHistory lists the readings of (vendor, kind), oldest first, at
// most limit of the newest.
func (s *Store) BalanceHistory(ctx context.Context, vendor, kind string, limit int) ([]BalanceReading, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT vendor, kind, value::text, checked_at, false FROM (
			SELECT * FROM balance_history WHERE vendor = $1 AND kind = $2 ORDER BY checked_at DESC, id DESC LIMIT $3
		) h ORDER BY checked_at, id`, vendor, kind, limit)
	if err != nil {
		return nil, wrap("balance history", err)
	}
	out, err := pgx.CollectRows(rows, scanBalance)
	if err != nil {
		return nil, wrap("balance history", err)
	}
	return out, nil
}

func scanBalance(row pgx.CollectableRow) (BalanceReading, error) {
	var b BalanceReading
	var value *string
	if err := row.Scan(&b.Vendor, &b.Kind, &value, &b.CheckedAt, &b.Below); err != nil {
		return b, err
	}
	if value != nil {
		d, err := decimal.NewFromString(*value)
		if err != nil {
			return b, fmt.Errorf("balance %s/%s: %w", b.Vendor, b.Kind, err)
		}
		b.Value = &d
	}
	return b, nil
}

// TryLease takes the lease name for holder until `until` when it is free
// (never taken, or run out at now), and reports whether it did. A holder
// may take its own lease again once it ran out, like anyone else; there
// is no release: the lease simply runs out. A poll made once per interval
// across the fleet (balances, the janitor) holds it for the interval.
func (s *Store) TryLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	return s.lease(ctx, name, holder, now, until, false)
}

// HoldLease takes the lease name for holder until `until` when it is
// free, or keeps it when holder already has it: a standing role (the
// reconciler) stays with one replica while that replica lives, and moves
// when it stops renewing.
func (s *Store) HoldLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	return s.lease(ctx, name, holder, now, until, true)
}

func (s *Store) lease(ctx context.Context, name, holder string, now, until time.Time, renew bool) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO monitor_leases (name, holder, lease_until) VALUES ($1, $2, $4)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until
		WHERE monitor_leases.lease_until <= $3 OR ($5 AND monitor_leases.holder = EXCLUDED.holder)`,
		name, holder, now, until, renew)
	if err != nil {
		return false, wrap("lease "+name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetFlag sets vendor's flag (such as "credentials_rejected") to active
// and reports whether that changed it, so that exactly one caller sees
// each transition however many race. A flag never set reads as inactive:
// clearing it is no change.
func (s *Store) SetFlag(ctx context.Context, db DBTX, vendor, flag string, active bool, reason string, at time.Time) (changed bool, err error) {
	if db == nil {
		db = s.pool
	}
	var sql string
	if active {
		sql = `INSERT INTO monitor_flags (vendor, flag, active, reason, changed_at) VALUES ($1, $2, true, $3, $4)
			ON CONFLICT (vendor, flag) DO UPDATE SET active = true, reason = $3, changed_at = $4
			WHERE NOT monitor_flags.active`
	} else {
		sql = `UPDATE monitor_flags SET active = false, reason = $3, changed_at = $4
			WHERE vendor = $1 AND flag = $2 AND active`
	}
	tag, err := db.Exec(ctx, sql, vendor, flag, reason, at)
	if err != nil {
		return false, wrap("set flag "+vendor+"/"+flag, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Flag reports whether vendor's flag is active.
func (s *Store) Flag(ctx context.Context, vendor, flag string) (bool, error) {
	var active bool
	err := s.pool.QueryRow(ctx, `SELECT active FROM monitor_flags WHERE vendor = $1 AND flag = $2`, vendor, flag).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap("flag "+vendor+"/"+flag, err)
	}
	return active, nil
}

// OutboxMessage is a NATS message written with the state change it
// announces and published after the commit.
type OutboxMessage struct {
	Seq     int64
	Subject string
	// MsgID is the Nats-Msg-Id; an id already in the outbox is not added
	// again.
	MsgID   string
	Payload []byte
	// Event, on a re-drive read back for publishing, is the event to send
	// to the workers again (Payload is then empty: the publisher builds
	// the registration from the row as it is when sent).
	Event *Event
}

// EnqueueOutbox adds m to the outbox (in db's transaction).
func (s *Store) EnqueueOutbox(ctx context.Context, db DBTX, m OutboxMessage) error {
	if db == nil {
		db = s.pool
	}
	return enqueueOutbox(ctx, db, m)
}

func enqueueOutbox(ctx context.Context, db DBTX, m OutboxMessage) error {
	_, err := db.Exec(ctx, `INSERT INTO outbox (subject, msg_id, payload) VALUES ($1, $2, $3) ON CONFLICT (msg_id) DO NOTHING`,
		m.Subject, m.MsgID, m.Payload)
	return wrap("enqueue outbox", err)
}

// PublishOutbox hands up to limit unpublished outbox messages, oldest
// first, to publish and stamps those whose Seq it returns as published.
// The rows stay locked (FOR UPDATE SKIP LOCKED) until then, so concurrent
// publishers take disjoint sets. A re-drive row comes with its event as it
// is now; one whose event is final by now (or gone) is stamped unsent. It
// returns how many rows were stamped.
func (s *Store) PublishOutbox(ctx context.Context, limit int, publish func(ctx context.Context, msgs []OutboxMessage) []int64) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `
			SELECT seq, subject, msg_id, payload, event_id FROM outbox WHERE published_at IS NULL
			ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		var eventIDs []uuid.UUID
		msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxMessage, error) {
			var m OutboxMessage
			var eventID *uuid.UUID
			err := row.Scan(&m.Seq, &m.Subject, &m.MsgID, &m.Payload, &eventID)
			if eventID != nil {
				m.Event = &Event{ID: *eventID}
				eventIDs = append(eventIDs, *eventID)
			}
			return m, err
		})
		if err != nil || len(msgs) == 0 {
			return err
		}
		if len(eventIDs) > 0 {
			evs, err := s.events(ctx, tx, eventIDs)
			if err != nil {
				return err
			}
			byID := make(map[uuid.UUID]*Event, len(evs))
			for i := range evs {
				byID[evs[i].ID] = &evs[i]
			}
			var stale []int64
			live := msgs[:0]
			for _, m := range msgs {
				if m.Event != nil {
					m.Event = byID[m.Event.ID]
					if m.Event == nil || m.Event.State.Final() {
						stale = append(stale, m.Seq)
						continue
					}
				}
				live = append(live, m)
			}
			msgs = live
			if len(stale) > 0 {
				tag, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE seq = ANY($1)`, stale)
				if err != nil {
					return err
				}
				n += int(tag.RowsAffected())
			}
		}
		if len(msgs) == 0 {
			return nil
		}
		done := publish(ctx, msgs)
		if len(done) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE seq = ANY($1)`, done)
		n += int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, wrap("publish outbox", err)
	}
	return n, nil
}
