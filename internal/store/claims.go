package store

import (
	"bytes"
	"context"
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

// Result is what a worker decided for one event, before the batch's plan
// weighed it against the rows RecordBatch locked.
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
	Generation int
	// Exhausted marks a failed State that a transient failure caused by
	// spending the last of the budget: the plan parks the event instead
	// when the vendor turns out to be unavailable rather than refusing it.
	Exhausted bool
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
	// claim (tools, tests).
	Token uuid.UUID
	// Release lists every event the batch claimed; their claims end with
	// the commit, results or not.
	Release []uuid.UUID
	// Results are handed to the decision with the rows they concern; their
	// calls are recorded first, each once by CallID.
	Results []Result
	// Vendors are the vendors whose status rows the decision reads: they
	// are locked (and created when missing) before it runs.
	Vendors []string
}

// LockedEvent is an event's row as RecordBatch locked it, before the
// batch's decision.
type LockedEvent struct {
	State      State
	Generation int
	BudgetUsed int
	// ClaimedBy is the claim's token, nil when unclaimed.
	ClaimedBy *uuid.UUID
}

// BatchState is what RecordBatch locked and read for the decision: the
// rows it holds until the commit, so the plan made from them applies as
// made.
type BatchState struct {
	Token uuid.UUID
	// Results are the batch's, their text made valid, less those whose
	// call an earlier try of the batch recorded: that try applied them.
	Results []Result
	// Events are the locked rows of the batch's events, by id.
	Events map[uuid.UUID]LockedEvent
	// Vendors are the locked status rows of Batch.Vendors, by vendor.
	Vendors map[string]VendorStatus
}

// Plan is what a batch writes, decided from its BatchState. RecordBatch
// applies it as it is.
type Plan struct {
	// Events are the events' new rows.
	Events []EventWrite
	// ResetFailures are vendors whose breaker count goes back to 0 where
	// it is not 0 already, without locking their rows otherwise.
	ResetFailures []string
	// Vendors are breaker counts, pauses and resumes, in order.
	Vendors []VendorWrite
}

// EventWrite is one event's new row. Fields left zero keep the row's
// value unless said otherwise.
type EventWrite struct {
	ID uuid.UUID
	// Generation is the one the write was planned for (the locked row's).
	Generation int
	State      State
	// Attempts and Budget are added to attempts and budget_used.
	Attempts, Budget int
	// SetNext writes NextAttemptAt (nil clears it).
	SetNext       bool
	NextAttemptAt *time.Time
	VendorCode    *int
	VendorStatus  string
	// SetLastError writes LastError ("" clears it).
	SetLastError bool
	LastError    string
	// Confirmed stamps confirmed_at unless stamped already.
	Confirmed bool
}

// VendorWrite is what a batch writes to one vendor's status row: its
// breaker count, then a pause, or, after the events' states, a resume.
type VendorWrite struct {
	Vendor   string
	Failures int
	Pause    *VendorPause
	Resume   *VendorResume
}

// VendorPause pauses a vendor and announces it.
type VendorPause struct {
	Kind, Reason string
	Alert        OutboxMessage
}

// VendorResume lifts a vendor's pause of Kind, announces it, and
// re-drives every paused event of the vendor to RedriveSubject, with
// RedriveTag in the message ids.
type VendorResume struct {
	Kind                       string
	Alert                      OutboxMessage
	RedriveSubject, RedriveTag string
}

// BatchOutcome is what RecordBatch wrote.
type BatchOutcome struct {
	// Events are the rows of the batch's results as committed.
	Events []Event
	// Changes are the vendor pauses and resumes the batch caused.
	Changes []VendorChange
}

// RecordBatch writes a batch in one transaction. It locks the batch's
// events (and the status rows of b.Vendors), records the vendor calls
// (each once, by CallID, so running it again after a commit whose answer
// was lost changes nothing), hands what it locked to decide, and applies
// the plan decide returns: the events' new rows, the vendors' breaker
// counts, pauses and resumes with their alerts and re-drives in the
// outbox, and the end of the batch's claims. It decides nothing itself.
//
// Text that PostgreSQL cannot hold (NUL, invalid UTF-8) is made valid
// first. Should a row be refused all the same (a data error), the batch is
// recorded again with that row's vendor text replaced by a note naming the
// SQLSTATE: the row keeps its attempt and its state, and the rest of the
// batch commits. A data error returned wraps ErrInvalidData and will not
// clear on its own.
func (s *Store) RecordBatch(ctx context.Context, b Batch, decide func(BatchState) Plan) (BatchOutcome, error) {
	return s.recordIsolating(ctx, cleanBatch(b), cleanPlans(decide))
}

func (s *Store) recordBatch(ctx context.Context, b Batch, decide func(BatchState) Plan) (BatchOutcome, error) {
	if len(b.Results) == 0 && len(b.Release) == 0 && len(b.Vendors) == 0 {
		return BatchOutcome{}, nil
	}
	var out BatchOutcome
	err := pgx.BeginTxFunc(ctx, s.pool, indexOnlyTx, func(tx pgx.Tx) error {
		out = BatchOutcome{}
		st, err := lockBatch(ctx, tx, b)
		if err != nil {
			return err
		}
		recorded, err := insertAttempts(ctx, tx, b.Results)
		if err != nil {
			return err
		}
		// A call recorded by an earlier try of this batch (its commit's
		// answer was lost) was applied with it: apply nothing twice.
		var again []uuid.UUID
		for _, r := range b.Results {
			if r.Call != nil && !recorded[r.Call.CallID] {
				again = append(again, r.EventID)
				continue
			}
			st.Results = append(st.Results, r)
		}
		p := decide(st)
		for _, v := range p.Vendors {
			c, err := writeVendor(ctx, tx, v)
			if err != nil {
				return err
			}
			if c != nil {
				out.Changes = append(out.Changes, *c)
			}
		}
		if len(p.Events) == 0 && len(p.ResetFailures) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE vendor_status SET failures = 0, updated_at = now()
				WHERE vendor = ANY($1::text[]) AND failures <> 0`, p.ResetFailures); err != nil {
				return wrap("vendor tally", err)
			}
		}
		out.Events, err = updateStates(ctx, tx, b.Token, p.Events, p.ResetFailures)
		if err != nil {
			return err
		}
		// Resume after the states: events this batch parked while the probe
		// was out are paused now, and go back to the workers with the rest.
		for _, v := range p.Vendors {
			if v.Resume == nil {
				continue
			}
			c, err := applyResume(ctx, tx, v.Vendor, *v.Resume)
			if err != nil {
				return err
			}
			out.Changes = append(out.Changes, c)
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
		if rest := withoutWrites(b.Release, p.Events); b.Token != uuid.Nil && len(rest) > 0 {
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

// lockBatch locks the batch's event rows, in id order, and then its
// vendors' status rows, in vendor order, and reads them. Every multi-row
// writer (replays too) locks events in this order, and always before a
// vendor's row.
func lockBatch(ctx context.Context, tx pgx.Tx, b Batch) (BatchState, error) {
	st := BatchState{Token: b.Token}
	ids := make([]uuid.UUID, 0, len(b.Results)+len(b.Release))
	for _, r := range b.Results {
		ids = append(ids, r.EventID)
	}
	ids = append(ids, b.Release...)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	st.Events = make(map[uuid.UUID]LockedEvent, len(ids))
	if len(ids) > 0 {
		rows, err := tx.Query(ctx, `SELECT id, state, generation, budget_used, claimed_by FROM events
			WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, rawUUIDs(ids))
		if err != nil {
			return st, wrap("lock events", err)
		}
		var id uuid.UUID
		var e LockedEvent
		var state string
		if _, err := pgx.ForEachRow(rows, []any{&id, &state, &e.Generation, &e.BudgetUsed, &e.ClaimedBy}, func() error {
			e.State = State(state)
			st.Events[id] = e
			return nil
		}); err != nil {
			return st, wrap("lock events", err)
		}
	}
	vendors := slices.Clone(b.Vendors)
	slices.Sort(vendors)
	vendors = slices.Compact(vendors)
	st.Vendors = make(map[string]VendorStatus, len(vendors))
	if len(vendors) > 0 {
		rows, err := tx.Query(ctx, `
			INSERT INTO vendor_status AS v (vendor) SELECT unnest($1::text[])
			ON CONFLICT (vendor) DO UPDATE SET vendor = v.vendor
			RETURNING v.vendor, v.paused, coalesce(v.kind, ''), v.failures`, vendors)
		if err != nil {
			return st, wrap("lock vendors", err)
		}
		var v VendorStatus
		if _, err := pgx.ForEachRow(rows, []any{&v.Vendor, &v.Paused, &v.Kind, &v.Failures}, func() error {
			st.Vendors[v.Vendor] = v
			return nil
		}); err != nil {
			return st, wrap("lock vendors", err)
		}
	}
	return st, nil
}

// withoutWrites is ids less those with a write in ws.
func withoutWrites(ids []uuid.UUID, ws []EventWrite) []uuid.UUID {
	if len(ids) == 0 {
		return nil
	}
	has := make(map[uuid.UUID]bool, len(ws))
	for _, w := range ws {
		has[w.ID] = true
	}
	var out []uuid.UUID
	for _, id := range ids {
		if !has[id] {
			out = append(out, id)
		}
	}
	return out
}

// writeVendor writes a vendor's breaker count and, if planned, its pause
// with the pause's alert. It returns the pause made, nil for none.
func writeVendor(ctx context.Context, tx pgx.Tx, v VendorWrite) (*VendorChange, error) {
	if _, err := tx.Exec(ctx, `
		INSERT INTO vendor_status AS v (vendor, failures) VALUES ($1, $2)
		ON CONFLICT (vendor) DO UPDATE SET failures = $2, updated_at = now()`, v.Vendor, v.Failures); err != nil {
		return nil, wrap("vendor tally", err)
	}
	p := v.Pause
	if p == nil {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, `
		UPDATE vendor_status SET paused = true, kind = $2, reason = $3, paused_at = now(), probe_at = now(),
			failures = 0, updated_at = now()
		WHERE vendor = $1`, v.Vendor, p.Kind, p.Reason); err != nil {
		return nil, wrap("pause vendor", err)
	}
	if err := enqueueOutbox(ctx, tx, p.Alert); err != nil {
		return nil, err
	}
	return &VendorChange{Vendor: v.Vendor, Paused: true, Kind: p.Kind, Reason: p.Reason}, nil
}

// applyResume lifts vendor's pause, writes its alert and re-drives every
// paused event of the vendor through the outbox.
func applyResume(ctx context.Context, tx pgx.Tx, vendor string, r VendorResume) (VendorChange, error) {
	c := VendorChange{Vendor: vendor, Kind: r.Kind}
	if _, err := tx.Exec(ctx, `
		UPDATE vendor_status SET paused = false, kind = NULL, failures = 0, probe_at = NULL, updated_at = now()
		WHERE vendor = $1`, vendor); err != nil {
		return c, wrap("resume vendor", err)
	}
	if err := enqueueOutbox(ctx, tx, r.Alert); err != nil {
		return c, err
	}
	n, err := redrivePaused(ctx, tx, vendor, r.RedriveSubject, r.RedriveTag)
	c.Redriven = n
	return c, err
}

// redrivePaused writes an outbox row re-driving each paused event of
// vendor to subject.
func redrivePaused(ctx context.Context, tx pgx.Tx, vendor, subject, tag string) (int, error) {
	if subject == "" {
		return 0, nil
	}
	t, err := tx.Exec(ctx, `
		INSERT INTO outbox (subject, msg_id, event_id)
		SELECT $2, id::text || ':' || $3, id FROM events WHERE vendor = $1 AND state = 'paused'
		ON CONFLICT (msg_id) DO NOTHING`, vendor, subject, tag)
	if err != nil {
		return 0, wrap("re-drive paused events", err)
	}
	return int(t.RowsAffected()), nil
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
	c.Redriven, err = redrivePaused(ctx, tx, vendor, subject, tag)
	if err != nil {
		return nil, err
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

func updateStates(ctx context.Context, tx pgx.Tx, token uuid.UUID, writes []EventWrite, resetFailures []string) ([]Event, error) {
	if len(writes) == 0 {
		return nil, nil
	}
	n := len(writes)
	ids := make([]uuid.UUID, n)
	states := make([]string, n)
	calls := make([]int32, n)
	budget := make([]int32, n)
	setNext := make([]bool, n)
	next := make([]*time.Time, n)
	codes := make([]*int32, n)
	vstatuses := make([]*string, n)
	setErr := make([]bool, n)
	errs := make([]*string, n)
	confirmed := make([]bool, n)
	gens := make([]int32, n)
	for i, w := range writes {
		ids[i], states[i], calls[i], budget[i], gens[i] = w.ID, string(w.State), int32(w.Attempts), int32(w.Budget), int32(w.Generation)
		setNext[i], next[i] = w.SetNext, w.NextAttemptAt
		codes[i], vstatuses[i] = int32Ptr(w.VendorCode), nonEmpty(w.VendorStatus)
		setErr[i], errs[i] = w.SetLastError, nonEmpty(w.LastError)
		confirmed[i] = w.Confirmed
	}
	var tok *uuid.UUID
	if token != uuid.Nil {
		tok = &token
	}
	// The rows are locked since the plan read them: the generation check
	// holds the write to the row the plan was made for.
	rows, err := tx.Query(ctx, `
		WITH reset AS (
			UPDATE vendor_status SET failures = 0, updated_at = now()
			WHERE vendor = ANY($13::text[]) AND failures <> 0
		), u AS (
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::bool[], $6::timestamptz[], $7::int[], $8::text[],
				$9::bool[], $10::text[], $11::bool[], $12::int[])
				AS u(id, state, calls, budget, set_next, next_at, code, status, set_err, err, confirmed, gen)
		), d AS (
			SELECT u.* FROM u JOIN events e ON e.id = u.id AND e.generation = u.gen
		)
		UPDATE events e SET
			state           = d.state,
			attempts        = e.attempts + d.calls,
			budget_used     = e.budget_used + d.budget,
			next_attempt_at = CASE WHEN d.set_next THEN d.next_at ELSE e.next_attempt_at END,
			vendor_code     = coalesce(d.code, e.vendor_code),
			vendor_status   = coalesce(d.status, e.vendor_status),
			last_error      = CASE WHEN d.set_err THEN d.err ELSE e.last_error END,
			confirmed_at    = CASE WHEN d.confirmed THEN coalesce(e.confirmed_at, now()) ELSE e.confirmed_at END,
			claimed_by      = CASE WHEN e.claimed_by = $14::uuid THEN NULL ELSE e.claimed_by END,
			claimed_until   = CASE WHEN e.claimed_by = $14::uuid THEN NULL ELSE e.claimed_until END,
			updated_at      = now()
		FROM d WHERE e.id = d.id
		RETURNING `+columns("e."),
		rawUUIDs(ids), states, calls, budget, setNext, next, codes, vstatuses, setErr, errs, confirmed, gens, resetFailures, tok)
	if err != nil {
		return nil, wrap("record results", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, wrap("record results", err)
	}
	return out, nil
}
