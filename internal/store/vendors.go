package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// VendorStatus is whether relay may call a vendor, for the whole fleet.
type VendorStatus struct {
	Vendor string
	Paused bool
	// Kind says why it is paused: PauseCredentials or PauseUnavailable.
	Kind     string
	Reason   string
	PausedAt *time.Time
	// Failures is the fleet's count of consecutive transient failures.
	Failures int
}

// VendorStatuses lists every vendor relay has a status row for.
func (s *Store) VendorStatuses(ctx context.Context) ([]VendorStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT vendor, paused, coalesce(kind, ''), coalesce(reason, ''), paused_at, failures
		FROM vendor_status ORDER BY vendor`)
	if err != nil {
		return nil, wrap("vendor statuses", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (VendorStatus, error) {
		var v VendorStatus
		err := row.Scan(&v.Vendor, &v.Paused, &v.Kind, &v.Reason, &v.PausedAt, &v.Failures)
		return v, err
	})
	if err != nil {
		return nil, wrap("vendor statuses", err)
	}
	return out, nil
}

// TakeProbe takes vendor's probe slot when the vendor is paused and no
// probe was made within interval, fleet-wide: true means the caller may
// make one call to learn whether the vendor works again.
func (s *Store) TakeProbe(ctx context.Context, vendor string, interval time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE vendor_status SET probe_at = now()
		WHERE vendor = $1 AND paused AND (probe_at IS NULL OR probe_at <= now() - $2::bigint * interval '1 millisecond')`,
		vendor, interval.Milliseconds())
	if err != nil {
		return false, wrap("take probe", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PauseVendor pauses vendor with kind and reason and reports whether it
// was running. Workers pause through RecordBatch; this is for tools and
// tests that set a pause directly.
func (s *Store) PauseVendor(ctx context.Context, vendor, kind, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO vendor_status AS v (vendor, paused, kind, reason, paused_at, probe_at) VALUES ($1, true, $2, $3, now(), now())
		ON CONFLICT (vendor) DO UPDATE SET paused = true, kind = $2, reason = $3, paused_at = now(), probe_at = now(), updated_at = now()
		WHERE NOT v.paused`, vendor, kind, reason)
	if err != nil {
		return false, wrap("pause vendor", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ResumeVendor lifts vendor's pause, and in the same transaction writes the
// alert for the kind lifted (alerts by kind: credentials_accepted or
// vendor_available) and
// re-drives every paused event of the vendor to subject through the
// outbox. It returns nil when the vendor was not paused.
func (s *Store) ResumeVendor(ctx context.Context, vendor, subject, tag string, alerts map[string]OutboxMessage) (*VendorChange, error) {
	var c *VendorChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = resumeVendor(ctx, tx, vendor, subject, tag, alerts)
		return err
	})
	if err != nil {
		return nil, wrap("resume vendor", err)
	}
	return c, nil
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
