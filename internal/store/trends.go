package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TrendBucket is what the vendor calls started in one time bucket came to.
type TrendBucket struct {
	// At is the bucket's start.
	At               time.Time
	Calls            int64
	Confirmed        int64
	AlreadyConfirmed int64
	// Failures counts every other outcome (retry, fail, pause).
	Failures int64
	// LatencyP50 and LatencyP95 are the calls' duration percentiles in
	// milliseconds, nil for a bucket without a call.
	LatencyP50 *float64
	LatencyP95 *float64
}

// trendsSQL buckets the calls of [$1, $1 + $2 buckets of $3 seconds) with
// date_bin from $1, aggregates them (the range on started_at is what
// attempts_started_idx serves), then joins the aggregate to every bucket
// start so that a bucket without a call is still a row, of zeros.
const trendsSQL = `
	WITH calls AS (
		SELECT date_bin(make_interval(secs => $3::float8), started_at, $1::timestamptz) AS at,
		       count(*) AS calls,
		       count(*) FILTER (WHERE outcome = 'confirmed') AS confirmed,
		       count(*) FILTER (WHERE outcome = 'already_confirmed') AS already_confirmed,
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
		       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
		FROM attempts
		WHERE started_at >= $1::timestamptz
		  AND started_at < $1::timestamptz + $2::int * make_interval(secs => $3::float8)
		GROUP BY 1)
	SELECT b.at, coalesce(c.calls, 0), coalesce(c.confirmed, 0), coalesce(c.already_confirmed, 0), c.p50, c.p95
	FROM generate_series($1::timestamptz, $1::timestamptz + ($2::int - 1) * make_interval(secs => $3::float8),
		make_interval(secs => $3::float8)) AS b(at)
	LEFT JOIN calls c ON c.at = b.at
	ORDER BY b.at`

// AttemptTrends counts the vendor calls started from `from` on, in n
// buckets of width each, oldest first: exactly n buckets, those without a
// call zero-filled. One query, on the attempts_started_idx range.
func (s *Store) AttemptTrends(ctx context.Context, from time.Time, n int, width time.Duration) ([]TrendBucket, error) {
	if n <= 0 || width < time.Second {
		return nil, fmt.Errorf("store: attempt trends: %d buckets of %s", n, width)
	}
	rows, err := s.pool.Query(ctx, trendsSQL, from, n, width.Seconds())
	if err != nil {
		return nil, fmt.Errorf("store: attempt trends: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TrendBucket, error) {
		var b TrendBucket
		err := row.Scan(&b.At, &b.Calls, &b.Confirmed, &b.AlreadyConfirmed, &b.LatencyP50, &b.LatencyP95)
		b.Failures = b.Calls - b.Confirmed - b.AlreadyConfirmed
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: attempt trends: %w", err)
	}
	return out, nil
}
