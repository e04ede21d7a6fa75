package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Durations read as Go duration strings in both formats, also inside a
// group and through With, never as integer nanoseconds.
func TestLoggerWritesDurationsAsStrings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, "info", "json").With("retention", 720*time.Hour)
	log.Info("postgres unavailable; retrying", "in", 100*time.Millisecond,
		slog.Group("g", slog.Duration("delay", 1500*time.Millisecond)))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v: %s", err, buf.String())
	}
	if line["in"] != "100ms" || line["retention"] != "720h0m0s" {
		t.Errorf("in=%#v retention=%#v, want \"100ms\" and \"720h0m0s\": %s", line["in"], line["retention"], buf.String())
	}
	if g, _ := line["g"].(map[string]any); g == nil || g["delay"] != "1.5s" {
		t.Errorf("g=%#v, want delay \"1.5s\"", line["g"])
	}

	buf.Reset()
	newLogger(&buf, "info", "text").Info("x", "in", 100*time.Millisecond)
	if !strings.Contains(buf.String(), " in=100ms") {
		t.Errorf("text line %q lacks in=100ms", buf.String())
	}
}
