package inbound

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanMetadata holds the fast path to the slow one: whatever the scan
// calls simple, the full decode must find nothing to refuse, and the depth
// verdicts must agree; whatever it calls compact, json.Compact leaves
// unchanged.
func FuzzScanMetadata(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":"\u0000"}`, `{"a":1e400}`, `{"a":"e1"}`, `{"k":[true,false,null]}`,
		`{"a":"\\u0000"}`, `{"\ud800":1}`, `{"a":{"b":{"c":[1,2,3]}}}`, `{"n":-0.5E-3}`, `{ "a" : [ 1 ] }`, "{\"a\":\"x y\"}", "{\"a\":1\n}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return // only valid objects reach normalizeMetadata
		}
		simple, compact, detail := scanMetadata(raw)
		var out bytes.Buffer
		if err := json.Compact(&out, raw); err != nil {
			t.Fatal(err)
		}
		if compact != bytes.Equal(out.Bytes(), raw) && detail == "" {
			t.Fatalf("scan called %q compact=%v; json.Compact gives %q", raw, compact, out.Bytes())
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		_ = dec.Decode(&v)
		slow := checkMetadataValue(v, 1)
		if detail != "" && slow == "" {
			t.Fatalf("scan refused %q (%s), the full check accepts it", raw, detail)
		}
		if simple && slow != "" && detail == "" {
			t.Fatalf("scan called %q simple, the full check says %s", raw, slow)
		}
	})
}
