package inbound_test

// Tests of hostile inputs that once exposed bugs in internal/inbound: times
// pushed out of range by their offset, metadata jsonb cannot store,
// compressed bodies inflating past the limits, and a single body larger
// than its limit read to the end before the answer.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"relay/internal/bus"
	"relay/internal/inbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

// TestOccurredAtOutsideYears0To9999: an offset can move an RFC 3339 time
// out of the years 0-9999 once converted to UTC. Such an event must be
// rejected (422) or published with a readable payload, never acknowledged
// with an empty payload the worker terminates.
func TestOccurredAtOutsideYears0To9999(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+00:01"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil, nil)
			resp, out := e.post(t, single, []byte(event("at", `"occurred_at":"`+at+`"`)))
			if resp.StatusCode == http.StatusUnprocessableEntity {
				checkProblem(t, resp, out, http.StatusUnprocessableEntity, "occurred_at")
				if n := e.msgs(t); n != 0 {
					t.Errorf("stream holds %d messages, want 0", n)
				}
				return
			}
			checkAccepted(t, resp, out, http.StatusAccepted, "at", false)
			m := e.lastRegistration(t)
			var reg bus.Registration
			if err := json.Unmarshal(m.Data, &reg); err != nil || reg.ID == "" {
				t.Errorf("regression: 202 but the published payload is %q (%v): server.go payload() ignores the "+
					"json.Marshal error of an occurred_at outside years 0-9999; the worker terminates the "+
					"message and the event is lost while its id blocks retries", m.Data, err)
			}
		})
	}
}

// TestAcceptedMetadataIsStorable: metadata ingest accepts must be storable
// in PostgreSQL's jsonb, or the worker's batch insert fails and the batch
// is redelivered forever; and metadata jsonb can store must be accepted.
func TestAcceptedMetadataIsStorable(t *testing.T) {
	t.Parallel()
	st, _ := testenv.Store(t)
	for _, c := range []struct {
		name, metadata string
		mustAccept     bool
	}{
		{"lone high surrogate", `{"k":"\ud800"}`, false},
		{"lone low surrogate", `{"k":"\udc00"}`, false},
		{"surrogate in a key", `{"\ud800":1}`, false},
		{"reversed surrogates", `{"k":"\ude00\ud83d"}`, false},
		{"number overflowing numeric", `{"k":1e1000000}`, false},
		{"tiny number underflowing numeric", `{"k":1e-20000}`, false},
		{"escaped backslash before u0000", `{"path":"C:\\u0000"}`, true},
		{"valid surrogate pair", `{"k":"\ud83d\ude00"}`, true},
		{"large but representable number", `{"k":1e100}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, st, nil)
			id := "meta-" + strings.ReplaceAll(c.name, " ", "-")
			resp, out := e.post(t, single, []byte(event(id, `"metadata":`+c.metadata)))
			if resp.StatusCode == http.StatusUnprocessableEntity {
				checkProblem(t, resp, out, http.StatusUnprocessableEntity, "metadata")
				if c.mustAccept {
					t.Errorf("regression: metadata %s (no NUL in it) is rejected: decode.go looks for the bytes "+
						`\u0000 in the raw JSON, so an escaped backslash followed by "u0000" matches`, c.metadata)
				}
				return
			}
			checkAccepted(t, resp, out, http.StatusAccepted, id, false)
			// Store it as the worker does, from the published payload.
			var reg bus.Registration
			if err := json.Unmarshal(e.lastRegistration(t).Data, &reg); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := st.UpsertEvents(ctx, nil, []store.NewEvent{{
				ID: inbound.EventID("liasmart", id), Vendor: reg.Vendor, MessageID: reg.MessageID,
				OccurredAt: reg.OccurredAt, Metadata: reg.Metadata, APIKey: reg.APIKey,
			}})
			if err != nil {
				if !c.mustAccept {
					t.Errorf("regression: metadata %s answered 202 but PostgreSQL rejects it (%v): the worker's "+
						"UpsertEvents fails for its whole batch, which is redelivered forever", c.metadata, err)
				}
				t.Fatalf("storing accepted metadata: %v", err)
			}
		})
	}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressedBatchOverLimit: fiber's Ctx.Body() inflates a
// Content-Encoding: gzip body without limit, after the 1 MiB BodyLimit
// was checked on the compressed bytes. A batch inflating past 1 MiB must
// still be 413 (or 415 if compressed bodies are refused).
func TestCompressedBatchOverLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	events := make([]string, inbound.MaxBatchEvents)
	for i := range events {
		events[i] = event(fmt.Sprintf("gz-%04d", i), `"metadata":`+metadataOf(1200))
	}
	plain := []byte(batchOf(events...))
	if len(plain) <= inbound.MaxBatchBody {
		t.Fatalf("test batch is %d bytes, not over the limit", len(plain))
	}
	body := gz(t, plain)
	resp, out := e.do(t, http.MethodPost, batchP, body, map[string]string{
		"Authorization": testBearer, "Content-Type": "application/json", "Content-Encoding": "gzip",
	})
	if resp.StatusCode == http.StatusOK {
		t.Errorf("regression: a %d-byte gzip body inflating to %d bytes (over the 1 MiB batch limit) answered 200 "+
			"and published %d events; Content-Encoding bypasses the body limits", len(body), len(plain), e.msgs(t))
	}
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		checkProblem(t, resp, out, http.StatusRequestEntityTooLarge, "")
	} else {
		checkProblem(t, resp, out, http.StatusUnsupportedMediaType, "")
	}
	if n := e.msgs(t); n != 0 {
		t.Errorf("stream holds %d messages, want 0", n)
	}
}

// TestCompressionBomb: a few KiB of doubly gzipped zeros declared
// "Content-Encoding: gzip, gzip" must not make the server allocate the
// inflated size. Not parallel: it measures the process's allocations.
func TestCompressionBomb(t *testing.T) {
	e := newEnv(t, nil, nil)
	const inflated = 32 << 20
	body := gz(t, gz(t, make([]byte, inflated)))
	headers := map[string]string{
		"Authorization": testBearer, "Content-Type": "application/json", "Content-Encoding": "gzip, gzip",
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, out := e.do(t, http.MethodPost, single, body, headers)
	runtime.ReadMemStats(&after)
	if resp.StatusCode >= 500 {
		t.Fatalf("5xx: %d %s", resp.StatusCode, out)
	}
	checkProblem(t, resp, out, http.StatusUnsupportedMediaType, "")
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("regression: a %d-byte body (Content-Encoding: gzip, gzip) made the server allocate %d MiB "+
			"(answer %d): fiber's Ctx.Body() inflates without limit, on every call", len(body), alloc>>20, resp.StatusCode)
	}
}

// TestSingleOverLimitAnsweredEarly: the spec answers a single body over
// 64 KiB with 413 "without reading the rest"; the server reads up to the
// 1 MiB app-wide BodyLimit before the handler compares.
func TestSingleOverLimitAnsweredEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	base := e.listen(t)
	headers := map[string]string{"Authorization": testBearer, "Content-Type": "application/json"}
	resp, out, err := sendHeadWithin(t, base, http.MethodPost, single, inbound.MaxSingleBody+1, headers, time.Second)
	if err != nil {
		t.Errorf("regression (spec): no answer within 1s to a declared %d-byte single body before it was "+
			"sent (%v): the 64 KiB limit is checked only after up to 1 MiB was read", inbound.MaxSingleBody+1, err)
	}
	checkProblem(t, resp, out, http.StatusRequestEntityTooLarge, "")
}
