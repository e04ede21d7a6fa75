package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// VendorStatus is whether relay may call a vendor.
type VendorStatus struct {
	Vendor   string
	Paused   bool
	Reason   string
	PausedAt *time.Time
}

// PauseVendor marks vendor paused. changed is true only for the call that
// moved it from running to paused, so exactly one alert is raised per pause
// however many workers see the rejection; that alert, when given, is
// written to the outbox in the same transaction, so it is not lost if
// publishing it fails.
func (s *Store) PauseVendor(ctx context.Context, vendor, reason string, alert *OutboxMessage) (changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO vendor_status (vendor, paused, reason, paused_at, updated_at)
			VALUES ($1, true, $2, now(), now())
			ON CONFLICT (vendor) DO UPDATE SET paused = true, reason = $2, paused_at = now(), updated_at = now()
			WHERE NOT vendor_status.paused`, vendor, reason)
		if err != nil {
			return err
		}
		changed = tag.RowsAffected() == 1
		if changed && alert != nil {
			return s.EnqueueOutbox(ctx, tx, *alert)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: pause vendor: %w", err)
	}
	return changed, nil
}

// ResumeVendor clears a pause; changed reports whether it was paused.
func (s *Store) ResumeVendor(ctx context.Context, vendor string) (changed bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE vendor_status SET paused = false, updated_at = now()
		WHERE vendor = $1 AND paused`, vendor)
	if err != nil {
		return false, fmt.Errorf("store: resume vendor: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// VendorStatuses lists every vendor relay has a status row for.
func (s *Store) VendorStatuses(ctx context.Context) ([]VendorStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT vendor, paused, coalesce(reason, ''), paused_at FROM vendor_status ORDER BY vendor`)
	if err != nil {
		return nil, fmt.Errorf("store: vendor statuses: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (VendorStatus, error) {
		var v VendorStatus
		err := row.Scan(&v.Vendor, &v.Paused, &v.Reason, &v.PausedAt)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: vendor statuses: %w", err)
	}
	return out, nil
}
