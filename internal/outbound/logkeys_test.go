package outbound

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/store"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// lockedBuffer is a log sink the worker's goroutines may write to at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// A line about an event names it by event_id, vendor and message_id, each
// once: the worker adds the vendor itself and the line does not repeat it.
func TestEventLinesCarryTheEventKeysOnce(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{Script: func(msg string, n int) *liasmarttest.Reply {
		if n == 1 {
			return &liasmarttest.Reply{Status: 503}
		}
		return nil
	}}, 30*time.Second)
	var logs lockedBuffer
	bd.start(t, bd.config(func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) }), nil)
	id := bd.publish(t, "flaky-logged")["flaky-logged"]
	bd.waitState(t, id, store.StateConfirmed)

	var line string
	for _, l := range logs.lines() {
		if strings.Contains(l, `"msg":"vendor call failed; retry scheduled"`) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no retry line in the logs:\n%s", strings.Join(logs.lines(), "\n"))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"event_id": id.String(), "vendor": "liasmart", "message_id": "flaky-logged", "attempt": float64(1)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v in %s", k, got[k], v, line)
		}
		if n := strings.Count(line, `"`+k+`":`); n != 1 {
			t.Errorf("key %s appears %d times in %s", k, n, line)
		}
	}
}
