package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Claimed is one event of a batch as the claim left it.
type Claimed struct {
	Event Event
	// Mine is true when the batch holds the event's claim: it alone may
	// call the vendor for it until the claim runs out.
	Mine bool
}

// ClaimEvents is a worker batch's first statement. It records the events
// PostgreSQL does not know yet and claims for token, until lease from now,
// every event of the batch that is not final and not claimed by another
// batch, in one statement (inside a short transaction that only turns
// sequential scans off, sent with its BEGIN: see indexOnlyTx). Rows another transaction holds locked are
// skipped, not waited for, so two batches never wait on each other here.
// It returns the rows (in no particular order); an id missing from the
// answer was being inserted by another batch at that instant.
func (s *Store) ClaimEvents(ctx context.Context, token uuid.UUID, lease time.Duration, evs []NewEvent) ([]Claimed, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	// Inserting in id order keeps two batches with the same new ids from
	// deadlocking on each other's uncommitted index entries.
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b NewEvent) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	ids, vendors, msgIDs, occurred, metadata, keys := newEventColumns(evs)
	accepted := make([]*time.Time, len(evs))
	for i, e := range evs {
		if !e.AcceptedAt.IsZero() {
			accepted[i] = &evs[i].AcceptedAt
		}
	}
	var out []Claimed
	// In a transaction with sequential scans off (see indexOnlyTx): a
	// batch's ids are a few hundred primary-key probes, never a scan.
	err := pgx.BeginTxFunc(ctx, s.pool, indexOnlyTx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
		WITH ins AS (
			INSERT INTO events (id, vendor, message_id, occurred_at, metadata, api_key, claimed_by, claimed_until, created_at)
			SELECT i.id, i.vendor, i.message_id, i.occurred_at, i.metadata, i.api_key, $7::uuid, now() + $8::bigint * interval '1 millisecond',
				least(coalesce(i.accepted_at, now()), now())
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]::jsonb[], $6::text[], $9::timestamptz[]) WITH ORDINALITY
				AS i(id, vendor, message_id, occurred_at, metadata, api_key, accepted_at, n)
			ORDER BY i.n
			ON CONFLICT DO NOTHING
			RETURNING `+eventColumns+`
		), free AS (
			SELECT id FROM events
			WHERE id = ANY($1::uuid[]) AND state NOT IN ('confirmed', 'already_confirmed', 'failed')
			  AND (claimed_until IS NULL OR claimed_until < now())
			ORDER BY id FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE events e SET claimed_by = $7::uuid, claimed_until = now() + $8::bigint * interval '1 millisecond'
			FROM free WHERE e.id = free.id
			RETURNING `+columns("e.")+`
		)
		SELECT true, `+eventColumns+` FROM ins
		UNION ALL
		SELECT true, `+eventColumns+` FROM claimed
		UNION ALL
		SELECT false, `+eventColumns+` FROM events WHERE id = ANY($1::uuid[]) AND id NOT IN (SELECT id FROM claimed)`,
			rawUUIDs(ids), vendors, msgIDs, occurred, metadata, keys, token, lease.Milliseconds(), accepted)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Claimed, error) {
			var c Claimed
			var state string
			e := &c.Event
			err := row.Scan(&c.Mine, &e.ID, &e.Vendor, &e.MessageID, &state, &e.Attempts, &e.BudgetUsed, &e.NextAttemptAt,
				&e.VendorCode, &e.VendorStatus, &e.LastError, &e.OccurredAt, &e.Metadata, &e.APIKey, &e.CreatedAt, &e.UpdatedAt, &e.ConfirmedAt,
				&e.Generation, &e.ClaimedUntil)
			e.State = State(state)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, wrap("claim events", err)
	}
	return out, nil
}

func newEventColumns(evs []NewEvent) (ids []uuid.UUID, vendors, msgIDs []string, occurred []*time.Time, metadata, keys []*string) {
	n := len(evs)
	ids, vendors, msgIDs = make([]uuid.UUID, n), make([]string, n), make([]string, n)
	occurred, metadata, keys = make([]*time.Time, n), make([]*string, n), make([]*string, n)
	for i, e := range evs {
		ids[i], vendors[i], msgIDs[i], occurred[i] = e.ID, e.Vendor, e.MessageID, e.OccurredAt
		if len(e.Metadata) > 0 && string(e.Metadata) != "null" {
			m := string(e.Metadata)
			metadata[i] = &m
		}
		if e.APIKey != "" {
			k := e.APIKey
			keys[i] = &k
		}
	}
	return
}

// Attempt is one vendor call, as recorded. Error must already be free of
// secrets: the vendor clients never put one in an error.
type Attempt struct {
	// CallID identifies the call; recording the same call twice is a no-op.
	CallID     uuid.UUID
	EventID    uuid.UUID
	Attempt    int
	StartedAt  time.Time
	Duration   time.Duration
	HTTPStatus *int
	VendorCode *int
	// VendorStatus is the vendor's own code or status as it wrote it
	// (VendorCode holds it where it is a number), "" when no answer
	// arrived. It is vendor text: RecordBatch cuts it to 64 bytes.
	VendorStatus string
	Outcome      string
	Error        string
}

// Result is what a worker decided for one event.
type Result struct {
	EventID uuid.UUID
	// Vendor is the event's, for the breaker (see Exhausted).
	Vendor string
	State  State
	// Call is the vendor call made, nil when none was (vendor paused).
	Call *Attempt
	// SpendsBudget is false for calls that must not count towards
	// RELAY_MAX_ATTEMPTS (rejected credentials, probes).
	SpendsBudget  bool
	NextAttemptAt *time.Time
	LastError     string
	// Generation is the event's generation the result was decided for.
	// When a replay has moved it since, only the call and a success are
	// recorded: the reset stands.
	Generation int
	// Exhausted marks a failed State that a transient failure caused by
	// spending the last of the budget. If the vendor turns out to be
	// unavailable rather than refusing this event (it is paused, or no
	// call to it has been answered since this event's failures began),
	// the event is parked paused instead, its budget untouched, and the
	// vendor is paused as unavailable: an outage fails no event.
	Exhausted bool
}

// VendorTally is what a batch's calls said about a vendor itself.
type VendorTally struct {
	Vendor string
	// Answered is true when some call got an ErrorCode answer.
	Answered bool
	// Failures counts the transient failures after the last answered call
	// (all of them when none was answered): added to the fleet's count of
	// consecutive failures, or replacing it when Answered.
	Failures int
	// Threshold pauses the vendor as unavailable once the fleet's count
	// reaches it; 0 turns the breaker off.
	Threshold int
	// Refused is true when the vendor refused our credentials: it is
	// paused (kind credentials) with Reason.
	Refused bool
	Reason  string
	Code    *int
	// ProbeAnswered is true when a probe call got an answer other than a
	// refusal: the vendor is resumed.
	ProbeAnswered bool
	// Alerts are written to the outbox with the transition each announces,
	// by kind: credentials_rejected, vendor_unavailable, credentials_accepted
	// and vendor_available.
	Alerts map[string]OutboxMessage
	// RedriveSubject is where a resume re-drives the vendor's paused events.
	RedriveSubject string
}

// Pause kinds: why a vendor is paused.
const (
	PauseCredentials = "credentials"
	PauseUnavailable = "unavailable"
)

// VendorChange is a pause or a resume a batch caused.
type VendorChange struct {
	Vendor string
	Paused bool
	// Kind is the pause's kind (PauseCredentials or PauseUnavailable); on
	// a resume, the kind lifted.
	Kind   string
	Reason string
	// Redriven counts the paused events a resume sent back to the workers.
	Redriven int
}

// Batch is what one worker batch writes, in one transaction.
type Batch struct {
	// Token is the batch's claim token. The zero token records without a
	// claim (tools, tests): no generation check, no claim released.
	Token uuid.UUID
	// Release lists every event the batch claimed; their claims end with
	// the commit, results or not.
	Release []uuid.UUID
	Results []Result
	Vendors []VendorTally
}

// BatchOutcome is what RecordBatch wrote.
type BatchOutcome struct {
	// Events are the rows of the batch's results as committed.
	Events []Event
	// Changes are the vendor pauses and resumes the batch caused.
	Changes []VendorChange
}

// RecordResults records results without a claim, as a tool would.
func (s *Store) RecordResults(ctx context.Context, results []Result) ([]Event, error) {
	out, err := s.RecordBatch(ctx, Batch{Results: results})
	return out.Events, err
}

// RecordBatch writes a batch in one transaction: its vendor calls (each
// once, by CallID, so running it again after a commit whose answer was
// lost changes nothing), the events' new states, the vendors' breaker
// counts, pauses and resumes with their alerts in the outbox, and the end
// of the batch's claims.
//
// A final state is never undone: confirmed stays confirmed, and a failed or
// already_confirmed event only moves to a success. A result for an older
// generation (a replay reset the event meanwhile), or for an event whose
// claim another batch took over, records its call and, if it is a
// success, its state; nothing else.
//
// Text that PostgreSQL cannot hold (NUL, invalid UTF-8) is made valid
// first. Should a row be refused all the same (a data error), the batch is
// recorded again with that row's vendor text replaced by a note naming the
// SQLSTATE: the row keeps its attempt and its state, and the rest of the
// batch commits. A data error returned wraps ErrInvalidData and will not
// clear on its own.
func (s *Store) RecordBatch(ctx context.Context, b Batch) (BatchOutcome, error) {
	return s.recordIsolating(ctx, cleanBatch(b))
}

func (s *Store) recordBatch(ctx context.Context, b Batch) (BatchOutcome, error) {
	if len(b.Results) == 0 && len(b.Release) == 0 && len(b.Vendors) == 0 {
		return BatchOutcome{}, nil
	}
	var out BatchOutcome
	err := pgx.BeginTxFunc(ctx, s.pool, indexOnlyTx, func(tx pgx.Tx) error {
		results := b.Results
		// Lock the rows in id order before deciding anything: the UPDATE
		// then reads the states committed by whoever held them before,
		// and every multi-row writer (replays too) locks in this order.
		ids := make([]uuid.UUID, 0, len(results)+len(b.Release))
		for _, r := range results {
			ids = append(ids, r.EventID)
		}
		ids = append(ids, b.Release...)
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		ids = slices.Compact(ids)
		budget := make(map[uuid.UUID]int, len(ids))
		if len(ids) > 0 {
			rows, err := tx.Query(ctx, `SELECT id, budget_used FROM events WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, rawUUIDs(ids))
			if err != nil {
				return wrap("lock events", err)
			}
			var id uuid.UUID
			var used int
			if _, err := pgx.ForEachRow(rows, []any{&id, &used}, func() error { budget[id] = used; return nil }); err != nil {
				return wrap("lock events", err)
			}
		}
		recorded, err := insertAttempts(ctx, tx, results)
		if err != nil {
			return err
		}
		// A call recorded by an earlier try of this batch (its commit's
		// answer was lost) was applied with it: apply nothing twice.
		todo := results[:0:0]
		var again []uuid.UUID
		for _, r := range results {
			if r.Call != nil && !recorded[r.Call.CallID] {
				again = append(again, r.EventID)
				continue
			}
			todo = append(todo, r)
		}

		var resumes []VendorTally
		var answeredOnly []string
		for _, t := range b.Vendors {
			if t.Answered && t.Failures == 0 && !t.Refused && !t.ProbeAnswered && !anyExhausted(todo) {
				// The common case: every call answered, nothing to decide.
				// The breaker count goes back to 0 inside the states'
				// statement, with no round trip of its own and no lock
				// unless it was not 0.
				answeredOnly = append(answeredOnly, t.Vendor)
				continue
			}
			changes, err := tallyVendor(ctx, tx, t, todo, budget)
			if err != nil {
				return err
			}
			out.Changes = append(out.Changes, changes...)
			if t.ProbeAnswered && !t.Refused {
				resumes = append(resumes, t)
			}
		}
		if len(todo) == 0 && len(answeredOnly) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE vendor_status SET failures = 0, updated_at = now()
				WHERE vendor = ANY($1::text[]) AND failures <> 0`, answeredOnly); err != nil {
				return wrap("vendor tally", err)
			}
		}
		out.Events, err = updateStates(ctx, tx, b.Token, todo, answeredOnly)
		if err != nil {
			return err
		}
		// Resume after the states: events this batch parked while the probe
		// was out are paused now, and go back to the workers with the rest.
		for _, t := range resumes {
			c, err := resumeVendor(ctx, tx, t.Vendor, t.RedriveSubject, "probe:"+b.Token.String(), t.Alerts)
			if err != nil {
				return err
			}
			if c != nil {
				out.Changes = append(out.Changes, *c)
			}
		}
		if len(again) > 0 {
			more, err := s.events(ctx, tx, again)
			if err != nil {
				return err
			}
			out.Events = append(out.Events, more...)
		}
		// The states' statement released the claims of the events it
		// updated; the others (no result: not due, parked already, too late
		// in the claim to call) are released here.
		if rest := withoutResults(b.Release, todo); b.Token != uuid.Nil && len(rest) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE events SET claimed_by = NULL, claimed_until = NULL
				WHERE id = ANY($1::uuid[]) AND claimed_by = $2`, rawUUIDs(rest), b.Token); err != nil {
				return wrap("release claims", err)
			}
		}
		return nil
	})
	if err != nil {
		return BatchOutcome{}, wrap("record batch", err)
	}
	return out, nil
}

func anyExhausted(rs []Result) bool {
	for _, r := range rs {
		if r.Exhausted {
			return true
		}
	}
	return false
}

// withoutResults is ids less those with a result in rs.
func withoutResults(ids []uuid.UUID, rs []Result) []uuid.UUID {
	if len(ids) == 0 {
		return nil
	}
	has := make(map[uuid.UUID]bool, len(rs))
	for _, r := range rs {
		has[r.EventID] = true
	}
	var out []uuid.UUID
	for _, id := range ids {
		if !has[id] {
			out = append(out, id)
		}
	}
	return out
}

// tallyVendor applies one vendor's tally inside the batch transaction:
// the breaker count, a credentials pause, a breaker trip; and it parks the
// results in todo that an outage exhausted (see Result.Exhausted).
func tallyVendor(ctx context.Context, tx pgx.Tx, t VendorTally, todo []Result, budget map[uuid.UUID]int) ([]VendorChange, error) {
	var exhausted []int
	for i, r := range todo {
		if r.Exhausted && r.Call != nil && r.Vendor == t.Vendor {
			exhausted = append(exhausted, i)
		}
	}
	var paused bool
	var kind string
	var failures int
	err := tx.QueryRow(ctx, `
		INSERT INTO vendor_status AS v (vendor, failures) VALUES ($1, $3)
		ON CONFLICT (vendor) DO UPDATE SET
			failures = CASE WHEN $2 THEN $3 ELSE v.failures + $3 END, updated_at = now()
		RETURNING v.paused, coalesce(v.kind, ''), v.failures`, t.Vendor, t.Answered, t.Failures).Scan(&paused, &kind, &failures)
	if err != nil {
		return nil, wrap("vendor tally", err)
	}
	var changes []VendorChange
	pause := func(k, reason, alert string) error {
		tag, err := tx.Exec(ctx, `
			UPDATE vendor_status SET paused = true, kind = $2, reason = $3, paused_at = now(), probe_at = now(),
				failures = 0, updated_at = now()
			WHERE vendor = $1 AND NOT (paused AND kind IS NOT DISTINCT FROM $2)`, t.Vendor, k, reason)
		if err != nil {
			return wrap("pause vendor", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		paused, kind = true, k
		changes = append(changes, VendorChange{Vendor: t.Vendor, Paused: true, Kind: k, Reason: reason})
		if m, ok := t.Alerts[alert]; ok {
			return enqueueOutbox(ctx, tx, m)
		}
		return nil
	}
	if t.Refused {
		if err := pause(PauseCredentials, t.Reason, "credentials_rejected"); err != nil {
			return nil, err
		}
	}
	if !paused && t.Threshold > 0 && failures >= t.Threshold {
		reason := fmt.Sprintf("%d consecutive transient failures across the fleet", failures)
		if err := pause(PauseUnavailable, reason, "vendor_unavailable"); err != nil {
			return nil, err
		}
	}
	for _, i := range exhausted {
		r := &todo[i]
		outage := paused || (t.Threshold > 0 && !t.Answered && failures >= budget[r.EventID]+1)
		if !outage {
			continue
		}
		if !paused {
			reason := fmt.Sprintf("no answer to the last %d calls, and an event's retry budget ran out", failures)
			if err := pause(PauseUnavailable, reason, "vendor_unavailable"); err != nil {
				return nil, err
			}
		}
		r.State, r.SpendsBudget, r.Exhausted = StatePaused, false, false
		r.LastError += " (vendor unavailable: waiting, budget kept)"
	}
	return changes, nil
}

// resumeVendor lifts vendor's pause, writes the alert for the kind lifted
// and re-drives every paused event of the vendor through the outbox, in
// tx. It returns nil when the vendor was not paused.
func resumeVendor(ctx context.Context, tx pgx.Tx, vendor, subject, tag string, alerts map[string]OutboxMessage) (*VendorChange, error) {
	var kind string
	err := tx.QueryRow(ctx, `
		UPDATE vendor_status v SET paused = false, kind = NULL, failures = 0, probe_at = NULL, updated_at = now()
		FROM (SELECT vendor, kind FROM vendor_status WHERE vendor = $1 AND paused FOR UPDATE) old
		WHERE v.vendor = old.vendor
		RETURNING coalesce(old.kind, '')`, vendor).Scan(&kind)
	if err != nil {
		if isNoRows(err) {
			return nil, nil
		}
		return nil, wrap("resume vendor", err)
	}
	c := &VendorChange{Vendor: vendor, Kind: kind}
	alert := "vendor_available"
	if kind == PauseCredentials {
		alert = "credentials_accepted"
	}
	if m, ok := alerts[alert]; ok {
		if err := enqueueOutbox(ctx, tx, m); err != nil {
			return nil, err
		}
	}
	if subject != "" {
		tag, err := tx.Exec(ctx, `
			INSERT INTO outbox (subject, msg_id, event_id)
			SELECT $2, id::text || ':' || $3, id FROM events WHERE vendor = $1 AND state = 'paused'
			ON CONFLICT (msg_id) DO NOTHING`, vendor, subject, tag)
		if err != nil {
			return nil, wrap("re-drive paused events", err)
		}
		c.Redriven = int(tag.RowsAffected())
	}
	return c, nil
}

// insertAttempts records the calls of results and returns the CallIDs it
// inserted; a CallID already present was recorded by an earlier try.
func insertAttempts(ctx context.Context, tx pgx.Tx, results []Result) (map[uuid.UUID]bool, error) {
	var (
		callIDs, eventIDs []uuid.UUID
		numbers           []int32
		started           []time.Time
		durations         []float64
		statuses, codes   []*int32
		outcomes          []string
		vstatuses, errs   []*string
	)
	for i := range results {
		c := results[i].Call
		if c == nil {
			continue
		}
		callIDs = append(callIDs, c.CallID)
		eventIDs = append(eventIDs, c.EventID)
		numbers = append(numbers, int32(c.Attempt))
		started = append(started, c.StartedAt)
		durations = append(durations, float64(c.Duration.Microseconds())/1000)
		statuses = append(statuses, int32Ptr(c.HTTPStatus))
		codes = append(codes, int32Ptr(c.VendorCode))
		vstatuses = append(vstatuses, nonEmpty(c.VendorStatus))
		outcomes = append(outcomes, c.Outcome)
		errs = append(errs, nonEmpty(c.Error))
	}
	recorded := make(map[uuid.UUID]bool, len(callIDs))
	if len(callIDs) == 0 {
		return recorded, nil
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO attempts (call_id, event_id, attempt, started_at, duration_ms, http_status, vendor_code, vendor_status, outcome, error)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[], $5::float8[], $6::int[], $7::int[], $8::text[], $9::text[], $10::text[])
		ON CONFLICT (call_id) DO NOTHING
		RETURNING call_id`,
		rawUUIDs(callIDs), rawUUIDs(eventIDs), numbers, started, durations, statuses, codes, vstatuses, outcomes, errs)
	if err != nil {
		return nil, wrap("record attempts", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, wrap("record attempts", err)
	}
	for _, id := range inserted {
		recorded[id] = true
	}
	return recorded, nil
}

func updateStates(ctx context.Context, tx pgx.Tx, token uuid.UUID, results []Result, answeredOnly []string) ([]Event, error) {
	if len(results) == 0 {
		return nil, nil
	}
	n := len(results)
	ids := make([]uuid.UUID, n)
	states := make([]string, n)
	calls := make([]int32, n)
	budget := make([]int32, n)
	next := make([]*time.Time, n)
	codes := make([]*int32, n)
	vstatuses := make([]*string, n)
	errs := make([]*string, n)
	gens := make([]int32, n)
	for i, r := range results {
		ids[i], states[i], next[i], errs[i], gens[i] = r.EventID, string(r.State), r.NextAttemptAt, nonEmpty(r.LastError), int32(r.Generation)
		if c := r.Call; c != nil {
			calls[i] = 1
			codes[i] = int32Ptr(c.VendorCode)
			vstatuses[i] = nonEmpty(c.VendorStatus)
		}
		if r.SpendsBudget && r.Call != nil {
			budget[i] = 1
		}
	}
	var tok *uuid.UUID
	if token != uuid.Nil {
		tok = &token
	}
	// current: the result was decided for the event as it is now (same
	// generation, claim still the batch's). Only a current result may
	// change a state other than to a success, or spend budget.
	rows, err := tx.Query(ctx, `
		WITH reset AS (
			UPDATE vendor_status SET failures = 0, updated_at = now()
			WHERE vendor = ANY($10::text[]) AND failures <> 0
		), u AS (
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::int[], $7::text[], $8::int[], $11::text[])
				AS u(id, state, calls, budget, next_at, code, err, gen, status)
		), c AS (
			SELECT u.*, e.state AS old_state,
				($9::uuid IS NULL OR (e.generation = u.gen AND e.claimed_by IS NOT DISTINCT FROM $9::uuid)) AS current
			FROM u JOIN events e ON e.id = u.id
		), decided AS (
			SELECT c.*, CASE
				WHEN c.old_state = 'confirmed' THEN c.old_state
				WHEN c.old_state IN ('already_confirmed', 'failed')
					AND c.state NOT IN ('confirmed', 'already_confirmed') THEN c.old_state
				WHEN c.old_state = 'already_confirmed' AND c.state = 'already_confirmed' THEN c.old_state
				WHEN NOT c.current AND c.state NOT IN ('confirmed', 'already_confirmed') THEN c.old_state
				ELSE c.state END AS new_state
			FROM c
		)
		UPDATE events e SET
			state           = d.new_state,
			attempts        = e.attempts + d.calls,
			budget_used     = e.budget_used + CASE WHEN d.current THEN d.budget ELSE 0 END,
			next_attempt_at = CASE WHEN d.new_state NOT IN ('retrying', 'paused') THEN NULL
			                       WHEN d.new_state = d.state THEN d.next_at ELSE e.next_attempt_at END,
			vendor_code     = CASE WHEN d.new_state = d.state THEN coalesce(d.code, e.vendor_code) ELSE e.vendor_code END,
			vendor_status   = CASE WHEN d.new_state = d.state THEN coalesce(d.status, e.vendor_status) ELSE e.vendor_status END,
			last_error      = CASE WHEN d.new_state IN ('confirmed', 'already_confirmed') THEN NULL
			                       WHEN d.new_state = d.state AND (d.new_state <> d.old_state OR d.calls > 0) THEN d.err
			                       ELSE e.last_error END,
			confirmed_at    = CASE WHEN d.new_state IN ('confirmed', 'already_confirmed') AND d.new_state <> d.old_state
			                       THEN coalesce(e.confirmed_at, now()) ELSE e.confirmed_at END,
			claimed_by      = CASE WHEN e.claimed_by = $9::uuid THEN NULL ELSE e.claimed_by END,
			claimed_until   = CASE WHEN e.claimed_by = $9::uuid THEN NULL ELSE e.claimed_until END,
			updated_at      = now()
		FROM decided d WHERE e.id = d.id
		RETURNING `+columns("e."),
		rawUUIDs(ids), states, calls, budget, next, codes, errs, gens, tok, answeredOnly, vstatuses)
	if err != nil {
		return nil, wrap("record results", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, wrap("record results", err)
	}
	return out, nil
}
