package bus_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/testenv"
)

// BenchmarkPublishRegistrations publishes registration-sized messages
// (about 300 B, each with a Nats-Msg-Id) asynchronously, at most 256 in
// flight, to RELAY_REGISTRATIONS on the machine's nats-server: one node
// with one replica, and a 3-node cluster with three. The figure behind
// the README's scale-out model (ns/op is per message).
func BenchmarkPublishRegistrations(b *testing.B) {
	payload := []byte(`{"id":"57cce200-3726-5354-9709-aa9f7de7d361","vendor":"liasmart","message_id":"4134",` +
		`"occurred_at":"2026-11-29T18:00:00Z","metadata":{"app":"signup","campaign":"winter"},"api_key":"app1",` +
		`"received_at":"2026-11-29T18:13:08.65Z","padding":"................................................................"}`)
	for _, nodes := range []int{1, 3} {
		b.Run("replicas="+strconv.Itoa(nodes), func(b *testing.B) {
			c := testenv.NATSCluster(b, nodes)
			bs, err := bus.Open(b.Context(), bus.Options{URL: c.URLs()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(bs.Close)
			if err := bs.EnsureStreams(b.Context(), bus.StreamOptions{Duplicates: 2 * time.Minute, Replicas: nodes}); err != nil {
				b.Fatal(err)
			}
			js, err := jetstream.New(bs.Conn, jetstream.WithPublishAsyncMaxPending(256))
			if err != nil {
				b.Fatal(err)
			}
			subject := bus.RegistrationSubject("liasmart")
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for i := range b.N {
				if _, err := js.PublishAsync(subject, payload, jetstream.WithMsgID("bench-"+strconv.Itoa(i)), jetstream.WithStallWait(10*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("acks not all received in 1m")
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
