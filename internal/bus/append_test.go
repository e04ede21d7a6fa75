package bus_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"relay/internal/bus"
)

// FuzzRegistrationAppendJSON holds AppendJSON to json.Marshal's bytes.
func FuzzRegistrationAppendJSON(f *testing.F) {
	f.Add("57cce200-3726-5354-9709-aa9f7de7d361", "liasmart", "4134", []byte(`{"app":"signup","n":[1,2.5e3,null]}`), int64(1764439200123456789), "app1", true)
	f.Add("", "<v&>", "a\"b\\c\n\x01\u2028\u2029\xff", []byte(`{"h":"<b>&amp;\u2028","x":"\u00e9"}`), int64(-62135596800), "", false)
	f.Add("x", "y", "z", []byte(``), int64(253402300799999999), "k\x7f", true)
	f.Fuzz(func(t *testing.T, id, vendor, messageID string, metadata []byte, nanos int64, key string, occurred bool) {
		r := bus.Registration{ID: id, Vendor: vendor, MessageID: messageID, APIKey: key,
			ReceivedAt: time.Unix(0, nanos).UTC()}
		if occurred {
			at := time.Unix(0, nanos/3).UTC()
			r.OccurredAt = &at
		}
		if len(metadata) > 0 {
			// What ingest hands over: compact, valid JSON of valid UTF-8.
			var compact bytes.Buffer
			if json.Compact(&compact, metadata) != nil || !json.Valid(compact.Bytes()) || !bytes.Equal(compact.Bytes(), bytes.ToValidUTF8(compact.Bytes(), nil)) {
				return
			}
			r.Metadata = compact.Bytes()
		}
		want, err := json.Marshal(r)
		if err != nil {
			return // years json.Marshal refuses; ingest never hands those over
		}
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkRegistrationEncoding compares AppendJSON with json.Marshal on
// the payload of a typical event.
func BenchmarkRegistrationEncoding(b *testing.B) {
	at := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	r := bus.Registration{ID: "57cce200-3726-5354-9709-aa9f7de7d361", Vendor: "liasmart", MessageID: "4134",
		OccurredAt: &at, Metadata: json.RawMessage(`{"app":"signup","campaign":"winter"}`), APIKey: "app1",
		ReceivedAt: time.Date(2026, 11, 29, 18, 13, 8, 650000000, time.UTC)}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
	})
}
