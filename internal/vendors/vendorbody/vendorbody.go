// Package vendorbody is what every vendor client does with the bytes a
// vendor (or whatever sits in front of it: a proxy, a captive portal, a
// load balancer's error page) sends back: read them within a bound, and
// turn any of them into text that is safe to keep.
//
// Vendor text ends up in PostgreSQL (which refuses NUL and invalid UTF-8
// and would refuse the whole batch with it), in logs, in NATS payloads and
// in spans, and some of it is readable by API clients. So it is redacted
// first, then made valid UTF-8 without control characters, then bounded on
// a character boundary: in that order, so that a secret straddling the
// bound never survives in part.
package vendorbody

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrTooLarge is wrapped by Read's error for a body longer than its limit.
// Such a body is not the vendor's API talking; cutting it and parsing the
// start could read a code that is not there.
var ErrTooLarge = errors.New("vendor answer too large")

// Read reads r to its end, at most limit bytes. A longer body is an error
// wrapping ErrTooLarge, not a silently shortened one. Read errors (a timeout
// while the body drips in, a reset) are returned as they are, so that the
// caller classifies them as it classifies transport failures.
func Read(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// SnippetLen is the bound on vendor text kept in errors, in bytes before
// the ellipsis that marks a cut.
const SnippetLen = 200

// ellipsis marks text that was cut.
const ellipsis = "…"

// Redactor removes a client's secrets from vendor text. The zero value
// removes nothing.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor returns a Redactor for secrets; empty ones are ignored. Each
// secret is also removed in its JSON-escaped form, as a vendor echoing the
// request in JSON would write it.
func NewRedactor(secrets ...string) Redactor {
	var pairs []string
	add := func(s string) {
		if s != "" {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	for _, s := range secrets {
		add(s)
		if b, err := json.Marshal(s); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != s {
				add(esc)
			}
		}
	}
	if len(pairs) == 0 {
		return Redactor{}
	}
	return Redactor{r: strings.NewReplacer(pairs...)}
}

// Redact returns s without the secrets.
func (r Redactor) Redact(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Text is vendor text made safe to keep: secrets removed, then Clean'd to
// max bytes (plus the ellipsis of a cut).
func (r Redactor) Text(s string, max int) string {
	// Redacting again after cleaning: cleaning turns control characters
	// into spaces, which could join the halves of a secret that a vendor
	// had split with one.
	return Clean(r.Redact(clean(r.Redact(s))), max)
}

// Snippet is Text of the start of a body, bounded to SnippetLen.
func (r Redactor) Snippet(raw []byte) string {
	return r.Text(string(raw), SnippetLen)
}

// Clean returns s as one line of valid UTF-8, at most max bytes plus the
// ellipsis that marks a cut: invalid bytes become U+FFFD, control
// characters (NUL, tab, newlines, C1) and line or paragraph separators
// become spaces, runs of spaces collapse into one, and the ends are
// trimmed. The cut falls on a character boundary. max <= 0 means no bound.
func Clean(s string, max int) string {
	s = clean(s)
	if max <= 0 || len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], " ") + ellipsis
}

func clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true         // at the start: drops leading spaces
	for _, r := range s { // ranging over a string yields U+FFFD for invalid bytes
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(r)
		space = false
	}
	return strings.TrimRight(b.String(), " ")
}

// isClean reports whether clean would return s unchanged, without
// allocating: the common case of a short, plain ASCII answer.
func isClean(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return false // leave the non-ASCII case to the careful path
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c == ' ' {
			if prevSpace {
				return false
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
	}
	return true
}
