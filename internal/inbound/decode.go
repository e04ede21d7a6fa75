package inbound

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of the ingest API, documented in the README.
const (
	MaxSingleBody   = 64 << 10
	MaxBatchBody    = 1 << 20
	MaxBatchEvents  = 1000
	MaxMessageID    = 128
	MaxMetadataSize = 4 << 10
)

// Registration is a validated ingest event.
type Registration struct {
	ID         uuid.UUID
	Vendor     string
	MessageID  string
	OccurredAt *time.Time
	// Metadata is compact JSON. It may share the decoded body's bytes:
	// copy it before the body is reused (ingest encodes the payload first).
	Metadata json.RawMessage
}

// EventID is the deterministic id of vendor's message_id. Clients can
// compute it themselves; a repeat of the same event gets the same id.
//
// It is uuid.NewSHA1(uuid.NameSpaceURL, "urn:relay:"+vendor+":"+messageID)
// (TestEventIDIsTheContractsFormula), computed in a stack buffer: the
// library's version made five allocations of every ingested event.
func EventID(vendor, messageID string) uuid.UUID {
	var buf [16 + len("urn:relay:") + 32 + 1 + MaxMessageID]byte
	b := append(buf[:0], uuid.NameSpaceURL[:]...)
	b = append(b, "urn:relay:"...)
	b = append(b, vendor...)
	b = append(b, ':')
	b = append(b, messageID...)
	sum := sha1.Sum(b)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = (id[6] & 0x0f) | 0x50 // version 5
	id[8] = (id[8] & 0x3f) | 0x80 // RFC 4122 variant
	return id
}

var jsonMarshal = json.Marshal

// decodeObject checks that body is one JSON object and returns it (from
// its opening brace). Its errors are problems: 400 for bytes that are not JSON, 422
// for JSON that is not an object. One validating pass, then one walk over
// the valid bytes (jsonwalk.go): the per-member maps and re-validations of
// decoding into map[string]json.RawMessage were a tenth of ingest's CPU.
func decodeObject(body []byte) ([]byte, *Problem) {
	if !utf8.Valid(body) {
		return nil, errMalformed("the body is not valid UTF-8")
	}
	if !json.Valid(body) {
		// The slow path, for its message: the error names the byte.
		var v any
		err := json.Unmarshal(body, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, errMalformed(jsonErrorDetail(err))
	}
	obj := body[skipSpace(body, 0):]
	if kind := valueKind(obj); kind != "object" {
		return nil, errValidation([]FieldError{{Field: "(body)", Detail: "must be a JSON object, not " + kind}})
	}
	return obj, nil
}

func jsonErrorDetail(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", syn, syn.Offset)
	}
	return err.Error()
}

// DecodeRegistration validates one event object. vendors are the accepted
// vendor names. It never panics, whatever the input: FuzzDecodeRegistration
// holds it to that.
func DecodeRegistration(body []byte, vendors map[string]bool) (Registration, *Problem) {
	obj, p := decodeObject(body)
	if p != nil {
		return Registration{}, p
	}
	return validateRegistration(eventFieldsOf(obj), vendors)
}

// eventFields are the raw values of an event's members, nil when absent;
// a repeated member counts once, its last value (as encoding/json decides).
type eventFields struct {
	vendor, messageID, status, occurredAt, metadata []byte
}

// eventFieldsOf reads the members of obj, a valid JSON object; unknown
// members are ignored.
func eventFieldsOf(obj []byte) eventFields {
	var f eventFields
	for m := range objectMembers(obj) {
		switch {
		case m.is("vendor"):
			f.vendor = m.value
		case m.is("message_id"):
			f.messageID = m.value
		case m.is("status"):
			f.status = m.value
		case m.is("occurred_at"):
			f.occurredAt = m.value
		case m.is("metadata"):
			f.metadata = m.value
		}
	}
	return f
}

func validateRegistration(obj eventFields, vendors map[string]bool) (Registration, *Problem) {
	var r Registration
	var err error
	var errs []FieldError
	bad := func(field, detail string) { errs = append(errs, FieldError{field, detail}) }

	if raw := obj.vendor; raw == nil || isNull(raw) {
		bad("vendor", "is required")
	} else if r.Vendor, err = vendorName(raw, vendors); err != nil {
		bad("vendor", "must be a string")
	} else if !vendors[r.Vendor] {
		bad("vendor", fmt.Sprintf("unknown vendor %q (accepted: %s)", truncate(r.Vendor, 40), vendorList(vendors)))
	}

	if raw := obj.messageID; raw == nil || isNull(raw) {
		bad("message_id", "is required")
	} else if r.MessageID, err = unquote(raw); err != nil {
		bad("message_id", "must be a string")
	} else if d := checkMessageID(r.MessageID); d != "" {
		bad("message_id", d)
	}

	if raw := obj.status; raw == nil || isNull(raw) {
		bad("status", "is required")
	} else if !bytes.Equal(bytes.TrimSpace(raw), []byte("true")) {
		bad("status", "must be JSON true: only successful registrations are confirmed")
	}

	if raw := obj.occurredAt; raw != nil && !isNull(raw) {
		if s, err := unquote(raw); err != nil {
			bad("occurred_at", "must be an RFC 3339 string")
		} else if t, err := time.Parse(time.RFC3339Nano, s); err != nil {
			bad("occurred_at", "must be an RFC 3339 time such as 2026-11-29T18:00:00Z")
		} else if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
			// An offset can push a valid-looking time out of the range
			// JSON encoding (and PostgreSQL's documented one) accepts.
			bad("occurred_at", "must fall in the years 0001 to 9999 once converted to UTC")
		} else {
			r.OccurredAt = &t
		}
	}

	if raw := obj.metadata; raw != nil && !isNull(raw) {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || raw[0] != '{':
			bad("metadata", "must be a JSON object")
		case len(raw) > MaxMetadataSize:
			bad("metadata", fmt.Sprintf("is %d bytes; at most %d", len(raw), MaxMetadataSize))
		default:
			m, detail := normalizeMetadata(raw)
			if detail != "" {
				bad("metadata", detail)
			} else {
				r.Metadata = m
			}
		}
	}

	if len(errs) > 0 {
		return Registration{}, errValidation(errs)
	}
	r.ID = EventID(r.Vendor, r.MessageID)
	return r, nil
}

// vendorName reads the vendor member's string, sharing the configured
// name's string when it is one (no allocation per event).
func vendorName(raw []byte, vendors map[string]bool) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		for v := range vendors {
			if v == string(raw[1:n-1]) {
				return v, nil
			}
		}
	}
	return unquote(raw)
}

// MaxMetadataDepth bounds the nesting of metadata objects and arrays.
const MaxMetadataDepth = 32

// normalizeMetadata re-encodes metadata in the form PostgreSQL's jsonb will
// store, or names why it cannot be stored: jsonb refuses U+0000 and
// numbers beyond its numeric range, and unpaired UTF-16 surrogate escapes
// (which Go reads as U+FFFD, so they are stored as that). Accepting such
// metadata would make the worker's insert fail for its whole batch.
func normalizeMetadata(raw []byte) (json.RawMessage, string) {
	if simple, compact, detail := scanMetadata(raw); detail != "" {
		return nil, detail
	} else if simple && compact {
		return raw[:len(raw):len(raw)], "" // as sent, nearly always
	} else if simple {
		// Nothing jsonb could refuse: keep the bytes, compacted.
		var out bytes.Buffer
		if err := json.Compact(&out, raw); err != nil {
			return nil, "must be a JSON object"
		}
		return out.Bytes(), ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "must be a JSON object"
	}
	if detail := checkMetadataValue(v, 1); detail != "" {
		return nil, detail
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, "must be a JSON object"
	}
	return bytes.TrimRight(out.Bytes(), "\n"), ""
}

// scanMetadata is the fast path of normalizeMetadata: one pass over
// already-valid JSON. Only a \u escape can produce U+0000 or a lone
// surrogate, and only a long number or one with an exponent can leave
// numeric's range; metadata with neither (nearly all) is simple and needs
// no decoding. Metadata without whitespace between its tokens is compact
// and needs no copy either. Too deep a nesting is reported here.
func scanMetadata(raw []byte) (simple, compact bool, detail string) {
	simple, compact = true, true
	depth, inString, numLen := 0, false, 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				if i+1 < len(raw) && raw[i+1] == 'u' {
					simple = false
				}
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxMetadataDepth {
				return false, false, fmt.Sprintf("nests deeper than %d levels", MaxMetadataDepth)
			}
		case c == '}' || c == ']':
			depth--
		case c == 'e' || c == 'E':
			if numLen > 0 {
				simple = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			compact = false
		}
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || ((c == 'e' || c == 'E') && numLen > 0) {
			numLen++
			if numLen > 1000 {
				simple = false
			}
		} else {
			numLen = 0
		}
	}
	return simple, compact, ""
}

func checkMetadataValue(v any, depth int) string {
	if depth > MaxMetadataDepth {
		return fmt.Sprintf("nests deeper than %d levels", MaxMetadataDepth)
	}
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return `must not contain U+0000 (\u0000)`
		}
	case json.Number:
		if !storableNumber(string(x)) {
			return "holds a number outside PostgreSQL's numeric range: " + truncate(string(x), 40)
		}
	case []any:
		for _, e := range x {
			if d := checkMetadataValue(e, depth+1); d != "" {
				return d
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) {
				return `keys must not contain U+0000 (\u0000)`
			}
			if d := checkMetadataValue(e, depth+1); d != "" {
				return d
			}
		}
	}
	return ""
}

// storableNumber keeps exponents within a range numeric stores with room
// to spare (it allows 131072 digits before the point, 16383 after).
func storableNumber(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return len(s) <= 1000
	}
	exp, err := strconv.Atoi(s[i+1:])
	return err == nil && exp >= -1000 && exp <= 1000 && i <= 1000
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// checkMessageID enforces 1 to 128 bytes of printable ASCII without
// spaces: what vendors issue, and safe in subjects, logs and URLs.
func checkMessageID(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > MaxMessageID {
		return fmt.Sprintf("is %d bytes; at most %d", len(s), MaxMessageID)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return fmt.Sprintf("byte %d is 0x%02x; only printable ASCII without spaces (0x21-0x7E) is allowed", i, c)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func vendorList(vendors map[string]bool) string {
	var b []byte
	for _, v := range sortedKeys(vendors) {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	return string(b)
}

// DecodeBatch validates a batch body: {"events":[...]} with 1 to 1,000
// events. Each event is validated on its own; a whole-body problem is
// returned only when the envelope itself is wrong.
func DecodeBatch(body []byte, vendors map[string]bool) ([]Registration, []*Problem, *Problem) {
	obj, p := decodeObject(body)
	if p != nil {
		return nil, nil, p
	}
	events, p := batchElements(obj, "events", "event", MaxBatchEvents)
	if p != nil {
		return nil, nil, p
	}
	n := len(events)
	regs := make([]Registration, n)
	problems := make([]*Problem, n)
	for i, ev := range events {
		if valueKind(ev) != "object" {
			problems[i] = errValidation([]FieldError{{fmt.Sprintf("events[%d]", i), "must be a JSON object"}})
			continue
		}
		regs[i], problems[i] = validateRegistration(eventFieldsOf(ev), vendors)
	}
	return regs, problems, nil
}

// batchElements reads a batch's envelope: obj's member name must be an
// array of 1 to most elements, each returned as written; what names the
// elements in problems ("event", "message").
func batchElements(obj []byte, name, what string, most int) ([][]byte, *Problem) {
	raw := lastMember(obj, name)
	if raw == nil || isNull(raw) {
		return nil, errValidation([]FieldError{{name, "is required"}})
	}
	if valueKind(raw) != "array" {
		return nil, errValidation([]FieldError{{name, "must be an array of " + what + " objects"}})
	}
	var elems [][]byte
	for e := range arrayElements(raw) {
		elems = append(elems, e)
	}
	if len(elems) == 0 || len(elems) > most {
		return nil, errValidation([]FieldError{{name, fmt.Sprintf("holds %d %ss; want 1 to %d", len(elems), what, most)}})
	}
	return elems, nil
}
