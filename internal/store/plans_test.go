package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"relay/internal/outbound"
	"relay/internal/store"
	"relay/internal/testenv"
)

// coldRows is how many rows land in events between the statistics saying
// "empty" and the next ANALYZE: a burst on a fresh deployment.
const coldRows = 50_000

// afterBurst is the batch handled after the burst: a worker batch at a
// moderate rate, large enough for a hash join to tempt the planner.
const afterBurst = 200

// TestPlansStayIndexScansOnAColdTable replays the cold-database cliff: a
// freshly migrated database (events analyzed while empty), ingest and
// worker statements run a few times while the table is small (pgx caches
// them as prepared statements), then a burst of rows lands with no ANALYZE
// in between. The plans those cached statements would now run, read with
// EXPLAIN EXECUTE on the very connection that prepared them, must not scan
// events sequentially.
func TestPlansStayIndexScansOnAColdTable(t *testing.T) {
	t.Parallel()
	plans, scans := coldPlans(t, "", "")
	if scans != 0 {
		t.Errorf("%d sequential scans of events while ingest and the worker handled %d events after the burst", scans, afterBurst)
	}
	for _, want := range []string{
		"SELECT e.id FROM (SELECT id FROM unnest", // KnownIDs: ingest's duplicate lookup
		"claimed AS (",                        // ClaimEvents: the worker's first statement
		"SELECT e.id, e.vendor",               // UpsertEvents and events(): lookups of a batch
		"ORDER BY id FOR UPDATE",              // RecordBatch: row locks
		"FROM u JOIN events e ON e.id = u.id", // RecordBatch: the states
		"FROM events WHERE id = $1",           // Event: lookup by id
	} {
		found := false
		for _, p := range plans {
			found = found || strings.Contains(p.statement, want)
		}
		if !found {
			t.Errorf("no cached statement containing %q: the test no longer covers it", want)
		}
	}
	for _, p := range plans {
		if p.genericPlans > 0 {
			t.Errorf("%d generic plans of %s", p.genericPlans, short(p.statement))
		}
		if p.seqScan {
			t.Errorf("sequential scan of events after %d rows without ANALYZE:\n%s\nplan: %s", coldRows, p.statement, p.plan)
		}
	}
}

// legacyLookup is the duplicate lookup as it was when the cliff was
// measured (p50 36 ms against 3.8 ms after ANALYZE).
const legacyLookup = `SELECT id FROM events WHERE id = ANY($1::uuid[])`

// TestColdPlansControl runs the same replay with PostgreSQL's default
// plan_cache_mode and, next to relay's statements, the duplicate lookup as
// it was written when the cliff was measured: it turns into a cached
// generic sequential scan. It shows that the cliff is real on this server
// and that both checks of the test above see it.
//
// The cached plan survives only if nothing invalidates the connection's
// plan cache between the burst and the EXPLAIN: other tests' DDL (each
// creates, migrates and drops its own database) can overflow PostgreSQL's
// shared invalidation queue, which resets every backend's caches, and the
// re-planned generic plan then sees the grown table. Up to three fresh
// databases are tried, until one shows both: a sequential scan counted in
// the round after the burst, and the legacy lookup's cached generic Seq
// Scan.
func TestColdPlansControl(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 3; attempt++ {
		plans, scans := coldPlans(t, "plan_cache_mode=auto", legacyLookup)
		if scans == 0 {
			// The same reset, before the round, re-plans every cached
			// statement against the grown table.
			t.Logf("attempt %d: with plan_cache_mode=auto, no sequential scan of events after the burst (re-planned after a cache reset?)", attempt)
			continue
		}
		var legacy *cachedPlan
		for i := range plans {
			if plans[i].statement == legacyLookup {
				legacy = &plans[i]
			}
		}
		if legacy == nil {
			t.Fatal("the legacy lookup is not among the cached statements")
		}
		if legacy.seqScan && legacy.genericPlans > 0 {
			return
		}
		t.Logf("attempt %d: the legacy lookup's plan is no generic Seq Scan (%d generic plans; re-planned after a cache reset?): %s",
			attempt, legacy.genericPlans, short(legacy.plan))
	}
	t.Error("in three databases, the cached statements never showed the cold-table cliff (a sequential scan counted and the legacy lookup's generic Seq Scan): the checks of the test above prove nothing")
}

type cachedPlan struct {
	statement    string
	genericPlans int64
	plan         string
	seqScan      bool
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 90 {
		s = s[:90] + "…"
	}
	return s
}

// coldPlans migrates a fresh database (with param appended to its URL),
// runs ingest's and the worker's statements (and extra, with the batch's
// ids, unless empty) eight times on one connection
// while events holds a few rows, inserts coldRows rows with autovacuum off
// for events, runs the statements once more, and returns the plan of every
// statement on events that the connection has prepared and how many
// sequential scans of events that last round made.
func coldPlans(t *testing.T, param, extra string) (plans []cachedPlan, seqScans int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbURL := testenv.DatabaseURL(t)
	if param != "" {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		k, v, _ := strings.Cut(param, "=")
		q.Set(k, v)
		u.RawQuery = q.Encode()
		dbURL = u.String()
	}
	// One connection: the statements are prepared, and explained, on it.
	st, err := store.Open(ctx, dbURL, store.Options{MaxConns: 1})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool := st.Pool()
	// Autovacuum would analyze events during the test and hide the cliff.
	if _, err := pool.Exec(ctx, `ALTER TABLE events SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	var reltuples float64
	if err := pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass`, pgx.QueryExecModeSimpleProtocol).Scan(&reltuples); err != nil {
		t.Fatal(err)
	}
	if reltuples != 0 {
		t.Fatalf("events after Migrate: reltuples %v, want 0 (analyzed while empty)", reltuples)
	}

	occurred := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	code, status := 1000, 200
	// round is what ingest and the worker do for n new events.
	round := func(name string, n int) {
		evs := make([]store.NewEvent, n)
		ids := make([]uuid.UUID, len(evs))
		for i := range evs {
			mid := fmt.Sprintf("cold-%s-%d", name, i)
			evs[i] = store.NewEvent{ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte(mid)), Vendor: "liasmart", MessageID: mid,
				OccurredAt: &occurred, Metadata: json.RawMessage(`{"app":"signup"}`), APIKey: "test"}
			ids[i] = evs[i].ID
		}
		if _, err := st.KnownIDs(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if extra != "" {
			if _, err := pool.Exec(ctx, extra, ids); err != nil {
				t.Fatal(err)
			}
		}
		token := uuid.New()
		claimed, err := st.ClaimEvents(ctx, token, time.Minute, evs)
		if err != nil || len(claimed) != len(evs) {
			t.Fatalf("claim: %d rows, %v", len(claimed), err)
		}
		results := make([]store.Result, len(evs))
		for i, e := range evs {
			results[i] = store.Result{EventID: e.ID, State: store.StateConfirmed, SpendsBudget: true,
				Call: &store.Attempt{CallID: uuid.New(), EventID: e.ID, Attempt: 1, StartedAt: occurred, Duration: 20 * time.Millisecond,
					HTTPStatus: &status, VendorCode: &code, Outcome: "confirmed"}}
		}
		out, err := st.RecordBatch(ctx, store.Batch{Token: token, Release: ids, Results: results}, outbound.PlanResults)
		if err != nil || len(out.Events) != len(evs) {
			t.Fatalf("record batch: %d rows, %v", len(out.Events), err)
		}
		// Redeliveries, and tools, look events up with UpsertEvents.
		if got, err := st.UpsertEvents(ctx, nil, evs); err != nil || len(got) != len(evs) {
			t.Fatalf("upsert: %d rows, %v", len(got), err)
		}
		if _, err := st.Event(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		round(fmt.Sprint(i), 3)
	}

	if _, err := pool.Exec(ctx, `INSERT INTO events (id, vendor, message_id, state, created_at)
		SELECT gen_random_uuid(), 'liasmart', 'burst-' || g, 'confirmed', now() FROM generate_series(1, $1::int) g`, pgx.QueryExecModeSimpleProtocol, coldRows); err != nil {
		t.Fatalf("burst: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass`, pgx.QueryExecModeSimpleProtocol).Scan(&reltuples); err != nil {
		t.Fatal(err)
	}
	if reltuples != 0 {
		t.Fatalf("events was analyzed during the test (reltuples %v): the test proves nothing", reltuples)
	}
	var early *cachedPlan
	if extra != "" {
		// Only extra: an EXPLAIN EXECUTE counts as a use in the plan
		// cache's choice between generic and custom plans, and the round
		// below must run the others as they were cached.
		if ps := explainPrepared(ctx, t, pool, extra); len(ps) == 1 {
			early = &ps[0]
		}
	}

	// Every scan this backend makes, foreign key checks of the attempts
	// included (cached plans too), counts in pg_stat_user_tables.
	seqScansOfEvents := func() int64 {
		var n int64
		// The backend flushes its counters when the statement ends.
		if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT seq_scan FROM pg_stat_user_tables WHERE relid = 'events'::regclass`,
			pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := seqScansOfEvents()
	round("after-burst", afterBurst)
	scans := seqScansOfEvents() - before

	plans = explainPrepared(ctx, t, pool, "")
	if early != nil {
		// The control's own plan is the one read right after the burst:
		// other tests' DDL can reset this backend's plan cache during the
		// round, and a re-planned generic plan sees the grown table.
		for i := range plans {
			if plans[i].statement == extra {
				plans[i] = *early
			}
		}
	}
	return plans, scans
}

// explainPrepared returns the plan, as EXPLAIN EXECUTE shows it now, of
// every statement on events that the connection of pool has prepared, or
// of only, when it is not empty.
func explainPrepared(ctx context.Context, t *testing.T, pool *pgxpool.Pool, only string) []cachedPlan {
	t.Helper()
	var plans []cachedPlan
	rows, err := pool.Query(ctx, `SELECT name, statement, generic_plans, parameter_types::text[]
		FROM pg_prepared_statements WHERE NOT from_sql AND statement ~ '\mevents\M' ORDER BY statement`,
		pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	type prepared struct {
		name, statement string
		generic         int64
		types           []string
	}
	stmts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (prepared, error) {
		var p prepared
		err := r.Scan(&p.name, &p.statement, &p.generic, &p.types)
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var someID uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM events WHERE message_id = 'burst-1'`, pgx.QueryExecModeSimpleProtocol).Scan(&someID); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if only != "" && s.statement != only {
			continue
		}
		args := make([]string, len(s.types))
		for i, typ := range s.types {
			args[i] = sampleValue(t, typ, someID)
		}
		// ClaimEvents and RecordBatch run these in an indexOnlyTx, with
		// SET LOCAL enable_seqscan = off.
		inTx := strings.Contains(s.statement, "FOR UPDATE") || strings.Contains(s.statement, "FROM u JOIN events") ||
			strings.Contains(s.statement, "UPDATE events SET claimed_by = NULL")
		var plan []byte
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if inTx {
				if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`, pgx.QueryExecModeSimpleProtocol); err != nil {
					return err
				}
			}
			return tx.QueryRow(ctx, fmt.Sprintf("EXPLAIN (FORMAT JSON) EXECUTE %s(%s)", pgx.Identifier{s.name}.Sanitize(), strings.Join(args, ", ")),
				pgx.QueryExecModeSimpleProtocol).Scan(&plan)
		})
		if err != nil {
			t.Fatalf("explain %s: %v", short(s.statement), err)
		}
		plans = append(plans, cachedPlan{statement: s.statement, genericPlans: s.generic, plan: string(plan), seqScan: hasSeqScan(t, plan, "events")})
	}
	return plans
}

// sampleValue is an SQL literal of typ for EXPLAIN EXECUTE: arrays of
// afterBurst elements (the statements unnest them side by side), and id
// for uuids: a row that exists.
func sampleValue(t *testing.T, typ string, id uuid.UUID) string {
	t.Helper()
	elem, isArray := strings.CutSuffix(typ, "[]")
	var v string
	switch elem {
	case "uuid":
		v = "'" + id.String() + "'"
	case "text", "character varying":
		v = "'{}'"
	case "integer", "bigint", "smallint", "double precision", "numeric":
		v = "1"
	case "timestamp with time zone":
		v = "now()"
	case "boolean":
		v = "true"
	default:
		t.Fatalf("no sample value for parameter type %s", typ)
	}
	if isArray {
		return fmt.Sprintf("array_fill(%s::%s, ARRAY[%d])", v, elem, afterBurst)
	}
	return v + "::" + typ
}

// hasSeqScan reports whether an EXPLAIN (FORMAT JSON) plan has a Seq Scan
// node on table.
func hasSeqScan(t *testing.T, plan []byte, table string) bool {
	t.Helper()
	var doc []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &doc); err != nil || len(doc) == 0 {
		t.Fatalf("EXPLAIN output: %v: %s", err, plan)
	}
	var walk func(n map[string]any) bool
	walk = func(n map[string]any) bool {
		if n["Node Type"] == "Seq Scan" && n["Relation Name"] == table {
			return true
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok && walk(m) {
				return true
			}
		}
		return false
	}
	return walk(doc[0].Plan)
}
