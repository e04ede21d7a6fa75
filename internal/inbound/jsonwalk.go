package inbound

import (
	"bytes"
	"encoding/json"
	"iter"
)

// A walk over JSON that json.Valid has accepted: it finds where values
// start and end and never judges the syntax again, so each body costs one
// validating pass and one walk, and no allocation for the members relay
// ignores. Every function here assumes valid input and stays within the
// slice whatever it is given (FuzzDecodeMatchesEncodingJSON holds them to
// encoding/json's reading of the same bytes).

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// valueKind names the JSON type of the value starting at b[0], in
// encoding/json's words for it.
func valueKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// endOfString returns the index just past the string starting at b[i].
func endOfString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// endOfValue returns the index just past the value starting at b[i].
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = endOfString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return len(b)
}

// member is one name and value of an object.
type member struct {
	key     []byte // the name as written, without its quotes
	decoded string // the name with its escapes decoded, when it has any
	escaped bool
	value   []byte
}

// is reports whether the member's name is name, escapes decoded (as
// encoding/json matches names in a map).
func (m member) is(name string) bool {
	if m.escaped {
		return m.decoded == name
	}
	return string(m.key) == name
}

// objectMembers yields the members of the object starting at obj[0], in
// order.
func objectMembers(obj []byte) iter.Seq[member] {
	return func(yield func(member) bool) {
		i := skipSpace(obj, 1)
		for i < len(obj) && obj[i] == '"' {
			end := endOfString(obj, i)
			m := member{key: obj[i+1 : max(i+1, end-1)]}
			if bytes.IndexByte(m.key, '\\') >= 0 {
				m.escaped = true
				m.decoded, _ = unquote(obj[i:end])
			}
			i = skipSpace(obj, end)
			i = skipSpace(obj, i+1) // past ':'
			end = endOfValue(obj, i)
			m.value = obj[min(i, end):end]
			if !yield(m) {
				return
			}
			i = skipSpace(obj, end)
			if i >= len(obj) || obj[i] != ',' {
				return
			}
			i = skipSpace(obj, i+1)
		}
	}
}

// lastMember returns the value of obj's last member named name (a
// repeated name counts once, its last value, as encoding/json decides);
// nil when there is none.
func lastMember(obj []byte, name string) []byte {
	var v []byte
	for m := range objectMembers(obj) {
		if m.is(name) {
			v = m.value
		}
	}
	return v
}

// arrayElements yields the elements of the array starting at arr[0], in
// order.
func arrayElements(arr []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := skipSpace(arr, 1)
		if i >= len(arr) || arr[i] == ']' {
			return
		}
		for i < len(arr) {
			end := endOfValue(arr, i)
			if !yield(arr[min(i, end):end]) {
				return
			}
			i = skipSpace(arr, end)
			if i >= len(arr) || arr[i] != ',' {
				return
			}
			i = skipSpace(arr, i+1)
		}
	}
}

// unquote reads a JSON string value; an error means raw is not a string.
// Strings without escapes, nearly all, are copied directly.
func unquote(raw []byte) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw[1:n-1], '\\') < 0 {
		return string(raw[1 : n-1]), nil
	}
	return unquoteEscaped(raw)
}

// unquoteEscaped is unquote's slow path, apart so that only it pays for
// the string escaping to the heap.
func unquoteEscaped(raw []byte) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}
