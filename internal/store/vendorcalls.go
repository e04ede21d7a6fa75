package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// VendorCalls is what one vendor's calls started in a window came to.
type VendorCalls struct {
	Vendor string
	Calls  int64
	// LatencyP50 and LatencyP95 are the calls' duration percentiles in
	// milliseconds.
	LatencyP50 float64
	LatencyP95 float64
}

// vendorCallsSQL aggregates the calls started in [$1, $2) by the event's
// vendor. attempts carries no vendor, so each call in the range (read on
// attempts_started_idx) finds its event by primary key: a window of
// minutes is a few thousand lookups at most, and keeps attempts' insert
// path, the workers' hot path, as it is.
const vendorCallsSQL = `
	SELECT e.vendor, count(*),
	       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms),
	       percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms)
	FROM attempts a
	JOIN events e ON e.id = a.event_id
	WHERE a.started_at >= $1::timestamptz AND a.started_at < $2::timestamptz
	GROUP BY e.vendor
	ORDER BY e.vendor`

// VendorCallStats counts each vendor's calls started in [from, to), fleet
// wide, with their latency percentiles; a vendor without a call in the
// window has no row. One statement for every vendor.
func (s *Store) VendorCallStats(ctx context.Context, from, to time.Time) ([]VendorCalls, error) {
	rows, err := s.pool.Query(ctx, vendorCallsSQL, from, to)
	if err != nil {
		return nil, wrap("vendor call stats", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (VendorCalls, error) {
		var v VendorCalls
		err := row.Scan(&v.Vendor, &v.Calls, &v.LatencyP50, &v.LatencyP95)
		return v, err
	})
	if err != nil {
		return nil, wrap("vendor call stats", err)
	}
	return out, nil
}
