package stats

import (
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	sum := Summarize(s)
	for _, c := range []struct {
		got, want time.Duration
		name      string
	}{
		{sum.P50, 500, "p50"}, {sum.P99, 990, "p99"}, {sum.P999, 999, "p99.9"}, {sum.Max, 1000, "max"},
		{Percentile(s, 100), 1000, "p100"}, {Percentile(s, 0.01), 1, "p0.01"},
		{Percentile([]time.Duration{7}, 99.9), 7, "single"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if Summarize(nil).N != 0 {
		t.Error("empty summary")
	}
}
