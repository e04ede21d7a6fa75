package ops

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Trend windows: minutes of vendor calls, one point per minute.
const (
	DefaultTrendMinutes = 60
	MaxTrendMinutes     = 1440
	trendBucket         = time.Minute
)

// Trends is what the vendor calls of the last minutes came to, minute by
// minute: the console's trends panel and GET /admin/v1/trends.
type Trends struct {
	BucketSeconds int `json:"bucket_seconds"`
	// From is the first point's start; To is the end of the last point,
	// the current minute, which is still filling.
	From   time.Time    `json:"from"`
	To     time.Time    `json:"to"`
	Points []TrendPoint `json:"points"`
}

// TrendPoint is one minute of vendor calls.
type TrendPoint struct {
	At               time.Time `json:"at"`
	Confirmed        int64     `json:"confirmed"`
	AlreadyConfirmed int64     `json:"already_confirmed"`
	// Failures counts every call that confirmed nothing: retries, final
	// failures, credential rejections (pause).
	Failures int64 `json:"failures"`
	Calls    int64 `json:"calls"`
	// Latencies are null for a minute without a call.
	LatencyP50 *float64 `json:"latency_ms_p50"`
	LatencyP95 *float64 `json:"latency_ms_p95"`
}

// ParseTrendMinutes reads the minutes parameter; "" is the default.
func ParseTrendMinutes(s string) (int, error) {
	if s == "" {
		return DefaultTrendMinutes, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, minutesError()
	}
	return n, checkTrendMinutes(n)
}

func checkTrendMinutes(n int) error {
	if n < 1 || n > MaxTrendMinutes {
		return minutesError()
	}
	return nil
}

func minutesError() error {
	var v ValidationError
	v.add("minutes", fmt.Sprintf("must be an integer from 1 to %d", MaxTrendMinutes))
	return v.err()
}

// Trends counts the vendor calls of the last minutes, the current minute
// included: exactly minutes points, oldest first, minutes without a call
// zero-filled.
func (s *Service) Trends(ctx context.Context, minutes int) (Trends, error) {
	if err := checkTrendMinutes(minutes); err != nil {
		return Trends{}, err
	}
	current := s.now().UTC().Truncate(trendBucket)
	from := current.Add(-time.Duration(minutes-1) * trendBucket)
	buckets, err := s.store.AttemptTrends(ctx, from, minutes, trendBucket)
	if err != nil {
		return Trends{}, err
	}
	out := Trends{BucketSeconds: int(trendBucket / time.Second), From: from, To: current.Add(trendBucket),
		Points: make([]TrendPoint, len(buckets))}
	for i, b := range buckets {
		out.Points[i] = TrendPoint{At: b.At.UTC(), Confirmed: b.Confirmed, AlreadyConfirmed: b.AlreadyConfirmed,
			Failures: b.Failures, Calls: b.Calls, LatencyP50: roundMS(b.LatencyP50), LatencyP95: roundMS(b.LatencyP95)}
	}
	return out, nil
}

// roundMS keeps microseconds: durations are recorded with no more, and
// interpolated percentiles would otherwise carry float noise.
func roundMS(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := math.Round(*v*1000) / 1000
	return &r
}
