package bus

import (
	"time"
	"unicode/utf8"
)

// AppendJSON appends r encoded as json.Marshal encodes it, byte for byte
// (FuzzRegistrationAppendJSON holds it to that), to b. Ingest encodes one
// per accepted event; reflection made that a twentieth of its CPU. The
// Metadata must be compact, valid JSON of valid UTF-8 (ingest normalises
// it), which json.Marshal would otherwise reject or rewrite. OccurredAt
// and ReceivedAt must fall in the years 0 to 9999, outside which
// json.Marshal fails.
func (r *Registration) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"vendor":`...)
	b = appendString(b, r.Vendor)
	b = append(b, `,"message_id":`...)
	b = appendString(b, r.MessageID)
	if r.OccurredAt != nil {
		b = append(b, `,"occurred_at":`...)
		b = appendTime(b, *r.OccurredAt)
	}
	if len(r.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = appendCompactHTMLSafe(b, r.Metadata)
	}
	if r.APIKey != "" {
		b = append(b, `,"api_key":`...)
		b = appendString(b, r.APIKey)
	}
	b = append(b, `,"received_at":`...)
	b = appendTime(b, r.ReceivedAt)
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does: HTML-safe, invalid UTF-8
// as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendCompactHTMLSafe appends compact JSON as json.Marshal re-encodes a
// RawMessage: <, >, & and U+2028/U+2029 inside strings become \u escapes.
func appendCompactHTMLSafe(b, raw []byte) []byte {
	start := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '<' || c == '>' || c == '&' {
			b = append(b, raw[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			start = i + 1
		}
		// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
		if c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8 {
			b = append(b, raw[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xf])
			i += 2
			start = i + 1
		}
	}
	return append(b, raw[start:]...)
}
