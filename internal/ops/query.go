package ops

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"relay/internal/store"
)

// Listing limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query selects events for a listing. Zero fields match all.
type Query struct {
	States    []store.State
	Vendor    string
	MessageID string
	Since     *time.Time
	Until     *time.Time
	Limit     int
	After     *store.Cursor
}

func (q Query) filter() store.Filter {
	return store.Filter{States: q.States, Vendor: q.Vendor, MessageID: q.MessageID,
		Since: q.Since, Until: q.Until, After: q.After, Limit: q.Limit}
}

// ParseQuery reads a listing's parameters (state, vendor, message_id,
// since, until, limit, cursor) through get, which returns "" for an absent
// one. Every invalid parameter is named in the ValidationError.
func ParseQuery(get func(string) string, now time.Time) (Query, error) {
	var q Query
	var v ValidationError
	q.States = parseStates(&v, "state", get("state"))
	q.Vendor = get("vendor")
	if q.Vendor != "" && !validName(q.Vendor, 64) {
		v.add("vendor", "must be 1-64 printable characters without spaces")
	}
	q.MessageID = get("message_id")
	if q.MessageID != "" && !validName(q.MessageID, 128) {
		v.add("message_id", "must be 1-128 printable ASCII characters without spaces")
	}
	q.Since = parseTimeParam(&v, "since", get("since"), now)
	q.Until = parseTimeParam(&v, "until", get("until"), now)
	if q.Since != nil && q.Until != nil && !q.Until.After(*q.Since) {
		v.add("until", "must be after since")
	}
	q.Limit = DefaultLimit
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			v.add("limit", fmt.Sprintf("must be an integer from 1 to %d", MaxLimit))
		} else {
			q.Limit = n
		}
	}
	if s := get("cursor"); s != "" {
		c, err := DecodeCursor(s)
		if err != nil {
			v.add("cursor", "is not a cursor this API gave out")
		} else {
			q.After = &c
		}
	}
	return q, v.err()
}

// ParseStates reads a comma-separated list of states.
func parseStates(v *ValidationError, field, s string) []store.State {
	if s == "" {
		return nil
	}
	var out []store.State
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if !knownState(part) {
			v.add(field, fmt.Sprintf("%q is not a state (one of %s)", truncate(part, 40), stateNames()))
			return nil
		}
		out = append(out, store.State(part))
	}
	return out
}

func knownState(s string) bool {
	for _, st := range AllStates {
		if string(st) == s {
			return true
		}
	}
	return false
}

func stateNames() string {
	names := make([]string, len(AllStates))
	for i, st := range AllStates {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

func parseTimeParam(v *ValidationError, field, s string, now time.Time) *time.Time {
	if s == "" {
		return nil
	}
	t, err := ParseTime(s, now)
	if err != nil {
		v.add(field, err.Error())
		return nil
	}
	return &t
}

// ParseTime reads an instant: RFC 3339 ("2026-11-29T18:00:00Z"), or a
// duration back from now ("24h", "90m", "7d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// An unescaped "+01:00" in a query string arrives as " 01:00".
	if t, err := time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1)); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return time.Time{}, fmt.Errorf("must be RFC 3339 or a duration such as 24h or 7d")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("must be RFC 3339 or a duration such as 24h or 7d")
		}
	}
	return now.Add(-d), nil
}

// EncodeCursor makes the opaque listing cursor of a keyset position.
func EncodeCursor(c store.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (store.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.Cursor{}, err
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return store.Cursor{}, fmt.Errorf("ops: malformed cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return store.Cursor{}, err
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return store.Cursor{}, err
	}
	return store.Cursor{CreatedAt: t, ID: u}, nil
}

// validName accepts 1..max bytes of printable ASCII without spaces, the
// alphabet of vendor names and message ids.
func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
