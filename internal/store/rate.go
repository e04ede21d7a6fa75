package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Permits is what TakePermits granted.
type Permits struct {
	Granted int
	// Wait is how long until the next permit is due, by PostgreSQL's
	// clock; 0 when every permit asked for was granted.
	Wait time.Duration
}

// maxBurst bounds a bucket's burst whatever the rate: a rate of a million
// calls per second is no limit anyone means, and the count must stay an
// integer PostgreSQL and Go agree on.
const maxBurst = 1 << 20

// takePermits is the GCRA over vendor_rate's row, in one statement: the
// row lock orders the replicas' takes, and the clock is read once the
// lock is held (clock_timestamp in the correlated sub-select, evaluated
// again when a concurrent take made the row move on), so the theoretical
// arrival time only moves forward with the one clock of the server. tat
// is first brought back to at most one burst ahead of now (a slower rate
// an operator has since raised must not hold the vendor back), then to
// now if it is behind; k permits move it k intervals on.
// $1 vendor, $2 permits wanted, $3 emission interval and $4 burst
// tolerance (burst-1 intervals), both in microseconds.
const takePermits = `
UPDATE vendor_rate v SET (tat, taken_at, granted) = (
	SELECT g.base + g.k * $3::bigint * interval '1 microsecond', g.t, g.k
	FROM (SELECT c.t, c.base,
			greatest(0, least($2::int, floor((extract(epoch FROM c.t - c.base) * 1000000 + $4::bigint) / $3::bigint) + 1))::int AS k
		FROM (SELECT n.t, greatest(least(v.tat, n.t + ($4::bigint + $3::bigint) * interval '1 microsecond'), n.t) AS base
			FROM (SELECT clock_timestamp() AS t) n) c) g)
WHERE v.vendor = $1
RETURNING granted, greatest(0, floor(extract(epoch FROM tat - taken_at) * 1000000) - $4::bigint)::bigint`

// TakePermits takes up to n of vendor's permits to call at rate calls per
// second across every replica, in one statement: a bucket that holds one
// second of the rate (at least one call) and refills continuously. It
// returns how many it got; when fewer than n, Wait is when the next is
// due. The interval is rounded up to the microsecond, so the fleet never
// calls faster than rate. rate must be positive and finite.
func (s *Store) TakePermits(ctx context.Context, vendor string, rate float64, n int) (Permits, error) {
	if n <= 0 {
		return Permits{}, nil
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return Permits{}, fmt.Errorf("store: take permits: rate %v: want a positive, finite rate: %w", rate, ErrInvalidData)
	}
	interval := max(1, int64(math.Ceil(1e6/rate)))
	burst := int64(max(1, min(math.Floor(rate), maxBurst)))
	tolerance := (burst - 1) * interval
	n = min(n, maxBurst)
	for created := false; ; created = true {
		var granted int
		var waitMicros int64
		err := s.pool.QueryRow(ctx, takePermits, vendor, n, interval, tolerance).Scan(&granted, &waitMicros)
		if isNoRows(err) && !created {
			// The vendor's first take: its row, then the take.
			if _, err := s.pool.Exec(ctx, `INSERT INTO vendor_rate (vendor) VALUES ($1) ON CONFLICT (vendor) DO NOTHING`, vendor); err != nil {
				return Permits{}, wrap("take permits", err)
			}
			continue
		}
		if err != nil {
			return Permits{}, wrap("take permits", err)
		}
		p := Permits{Granted: granted}
		if granted < n {
			p.Wait = time.Duration(waitMicros) * time.Microsecond
		}
		return p, nil
	}
}
