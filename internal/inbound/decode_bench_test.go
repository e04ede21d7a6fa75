package inbound_test

import (
	"strconv"
	"testing"

	"relay/internal/inbound"
)

var benchVendors = map[string]bool{"liasmart": true}

// benchEvent is the event relaybench posts: every optional field set.
func benchEvent(n int) []byte {
	return []byte(`{"vendor":"liasmart","message_id":"bench-` + strconv.Itoa(n) +
		`","status":true,"occurred_at":"2026-11-29T18:00:00Z","metadata":{"app":"signup","campaign":"bench"}}`)
}

// BenchmarkDecodeRegistration is the decode and validation of one
// single-event body, as postRegistration runs it on every request.
func BenchmarkDecodeRegistration(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"full", benchEvent(4134)},
		{"minimal", []byte(`{"vendor":"liasmart","message_id":"4134","status":true}`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				if _, p := inbound.DecodeRegistration(c.body, benchVendors); p != nil {
					b.Fatal(p)
				}
			}
		})
	}
}

// BenchmarkDecodeBatch is the decode and validation of a batch body.
func BenchmarkDecodeBatch(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) {
			body := []byte(`{"events":[`)
			for i := range n {
				if i > 0 {
					body = append(body, ',')
				}
				body = append(body, benchEvent(i)...)
			}
			body = append(body, "]}"...)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				regs, problems, p := inbound.DecodeBatch(body, benchVendors)
				if p != nil || len(regs) != n || problems[n-1] != nil {
					b.Fatal(p, problems[n-1])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
