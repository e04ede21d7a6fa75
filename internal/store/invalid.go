package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// validText is s as a text column holds it: valid UTF-8 without NUL, each
// invalid sequence and each NUL shown as U+FFFD. The vendor clients clean
// their text already; this keeps any other source of bytes (a test
// Confirmer, a panic's message) from failing a whole batch.
func validText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// maxVendorStatus bounds an Attempt's VendorStatus, in bytes: a vendor's
// code or status is a word; a longer one, from a broken or hostile vendor,
// is cut at a character boundary.
const maxVendorStatus = 64

// boundedStatus is s as valid text of at most maxVendorStatus bytes.
func boundedStatus(s string) string {
	s = validText(s)
	if len(s) <= maxVendorStatus {
		return s
	}
	n := maxVendorStatus
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanBatch returns b with every text bound for a column made valid. It
// gives each call its CallID first, in the caller's Batch, so that a retry
// of the same Batch records each call once.
func cleanBatch(b Batch) Batch {
	for _, r := range b.Results {
		if r.Call != nil && r.Call.CallID == uuid.Nil {
			r.Call.CallID = uuid.New()
		}
	}
	results := make([]Result, len(b.Results))
	for i, r := range b.Results {
		r.LastError = validText(r.LastError)
		if r.Call != nil {
			c := *r.Call
			c.Error, c.Outcome = validText(c.Error), validText(c.Outcome)
			c.VendorStatus = boundedStatus(c.VendorStatus)
			r.Call = &c
		}
		results[i] = r
	}
	b.Results = results
	return b
}

// cleanPlans wraps decide so that the pause reasons of its plans are valid
// text (a refusal's reason is the vendor's).
func cleanPlans(decide func(BatchState) Plan) func(BatchState) Plan {
	return func(st BatchState) Plan {
		p := decide(st)
		vendors := make([]VendorWrite, len(p.Vendors))
		for i, v := range p.Vendors {
			if v.Pause != nil {
				pause := *v.Pause
				pause.Reason = validText(pause.Reason)
				v.Pause = &pause
			}
			vendors[i] = v
		}
		p.Vendors = vendors
		return p
	}
}

// recordIsolating records b; if PostgreSQL refuses it for a value it
// carries, it finds the results whose rows are refused, replaces their
// vendor text (see refusedNote) and records b again.
func (s *Store) recordIsolating(ctx context.Context, b Batch, decide func(BatchState) Plan) (BatchOutcome, error) {
	out, err := s.recordBatch(ctx, b, decide)
	if !errors.Is(err, ErrInvalidData) {
		return out, err
	}
	refused, perr := s.refusedResults(ctx, b.Results)
	if perr != nil {
		return BatchOutcome{}, fmt.Errorf("%w (finding the refused row: %w)", err, perr)
	}
	if len(refused) == 0 {
		// Not one result's row: nothing to isolate.
		return BatchOutcome{}, err
	}
	b.Results = withRefusedNotes(b.Results, refused)
	return s.recordBatch(ctx, b, decide)
}

// refusedNote stands in for vendor text PostgreSQL would not store.
func refusedNote(sqlstate string) string {
	return "vendor answer could not be stored (SQLSTATE " + sqlstate + ")"
}

// withRefusedNotes returns results with the vendor's text, code and
// status of the refused ones (index to SQLSTATE) replaced by a note.
func withRefusedNotes(results []Result, refused map[int]string) []Result {
	out := make([]Result, len(results))
	copy(out, results)
	for i, code := range refused {
		r := &out[i]
		r.LastError = refusedNote(code)
		if r.Call != nil {
			c := *r.Call
			c.Error, c.VendorCode, c.VendorStatus = r.LastError, nil, ""
			r.Call = &c
		}
	}
	return out
}

// refusedResults writes each result's vendor values alone, each under its
// own savepoint, in a transaction that is rolled back, and returns the
// results PostgreSQL refuses with a data error, by index, with the
// SQLSTATE.
func (s *Store) refusedResults(ctx context.Context, results []Result) (map[int]string, error) {
	refused := map[int]string{}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, wrap("isolate refused row", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for i, r := range results {
		if err := probeResult(ctx, tx, r); err != nil {
			if !errors.Is(err, ErrInvalidData) {
				return nil, err
			}
			refused[i] = sqlState(err)
		}
	}
	return refused, nil
}

// probeResult writes r's row values inside a savepoint, rolled back
// whatever happens.
func probeResult(ctx context.Context, tx pgx.Tx, r Result) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return wrap("isolate refused row", err)
	}
	defer func() { _ = sp.Rollback(context.WithoutCancel(ctx)) }()
	if c := r.Call; c != nil {
		if _, err := sp.Exec(ctx, `
			INSERT INTO attempts (call_id, event_id, attempt, started_at, duration_ms, http_status, vendor_code, vendor_status, outcome, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (call_id) DO NOTHING`,
			c.CallID, c.EventID, int32(c.Attempt), c.StartedAt, float64(c.Duration.Microseconds())/1000,
			int32Ptr(c.HTTPStatus), int32Ptr(c.VendorCode), nonEmpty(c.VendorStatus), c.Outcome, nonEmpty(c.Error)); err != nil {
			return wrap("isolate refused row", err)
		}
	}
	var code *int32
	var status *string
	if r.Call != nil {
		code, status = int32Ptr(r.Call.VendorCode), nonEmpty(r.Call.VendorStatus)
	}
	if _, err := sp.Exec(ctx, `UPDATE events SET state = $2, last_error = $3, vendor_code = $4, vendor_status = $5, next_attempt_at = $6
		WHERE id = $1`,
		r.EventID, string(r.State), nonEmpty(r.LastError), code, status, r.NextAttemptAt); err != nil {
		return wrap("isolate refused row", err)
	}
	return nil
}
