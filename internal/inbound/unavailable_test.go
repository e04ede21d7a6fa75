package inbound_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"relay/internal/bus"
	"relay/internal/inbound"
	"relay/internal/testenv"
)

// TestNATSDownAnswers503: with NATS gone after the server was built, a
// valid event answers 503 with Retry-After within a bounded time (nothing
// accepted), a batch too; once NATS is back the client's retry is
// accepted and the stream holds the event once.
func TestNATSDownAnswers503(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	dir := t.TempDir()
	ns := testenv.NATSAt(t, -1, dir)
	port := ns.Addr().(*net.TCPAddr).Port
	e := newEnvOn(t, ns, st, func(c *inbound.Config) { c.PublishTimeout = 500 * time.Millisecond })

	resp, out := e.post(t, single, []byte(event("before")))
	checkAccepted(t, resp, out, http.StatusAccepted, "before", false)

	ns.Shutdown()
	ns.WaitForShutdown()
	testenv.Eventually(t, 10*time.Second, "the client to notice NATS is gone", func() bool { return !e.bus.Conn.IsConnected() })

	const bound = 3 * time.Second // PublishTimeout + LookupTimeout + slack
	for _, c := range []struct{ name, path, body string }{
		{"single", single, event("down-1")},
		{"batch", batchP, batchOf(event("down-2"), event("down-3"), `{"status":false}`)},
	} {
		start := time.Now()
		resp, out := e.post(t, c.path, []byte(c.body))
		elapsed := time.Since(start)
		checkProblem(t, resp, out, http.StatusServiceUnavailable, "")
		if ra := resp.Header.Get("Retry-After"); ra == "" {
			t.Errorf("%s: 503 without Retry-After", c.name)
		}
		if elapsed > bound {
			t.Errorf("%s: answered after %s, want within %s", c.name, elapsed, bound)
		}
	}

	// Reads do not need NATS.
	resp, out = e.do(t, http.MethodGet, single+"/"+inbound.EventID("liasmart", "down-1").String(), nil,
		map[string]string{"Authorization": testBearer})
	checkProblem(t, resp, out, http.StatusNotFound, "")

	// NATS back on the same port and storage: the retry goes through and
	// the event is in the stream once, whether or not the client library
	// flushed the timed-out publish on reconnecting.
	testenv.NATSAt(t, port, dir)
	testenv.Eventually(t, 10*time.Second, "the client to reconnect", e.bus.Conn.IsConnected)
	resp, out = e.post(t, single, []byte(event("down-1")))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("retry after NATS came back: %d %s", resp.StatusCode, out)
	}
	checkAccepted(t, resp, out, resp.StatusCode, "down-1", resp.StatusCode == http.StatusOK)

	ids := map[string]int{}
	stream, err := e.js.Stream(t.Context(), bus.RegistrationsStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= e.msgs(t); seq++ {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		ids[m.Header.Get("Nats-Msg-Id")]++
	}
	for _, id := range []string{"before", "down-1"} {
		if n := ids[inbound.EventID("liasmart", id).String()]; n != 1 {
			t.Errorf("%s is %d times in the stream, want once", id, n)
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("event %s is %d times in the stream", id, n)
		}
	}
}
