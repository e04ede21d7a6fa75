package main

import (
	"encoding/json"
	"io"
	"time"
)

// Operator output has one style: JSON uses the admin API's own types (or
// types with the same snake_case names and units: times RFC 3339 in UTC,
// durations in milliseconds as duration_ms), and tables head their
// columns with those names in capitals.

// printJSON writes v indented, as every --json output and `relay status`.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tableTime formats a time for a table cell.
func tableTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
