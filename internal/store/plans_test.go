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
	plans, scans := coldPlans(t, "")
	if scans != 0 {
		t.Errorf("%d sequential scans of events while ingest and the worker handled %d events after the burst", scans, afterBurst)
	}
	for _, want := range []string{
		"SELECT e.id FROM (SELECT id FROM unnest", // KnownIDs: ingest's duplicate lookup
		"INSERT INTO events",                      // UpsertEvents: the worker's first statement
		"ORDER BY id FOR UPDATE",                  // RecordResults: row locks
		"FROM u JOIN events e ON e.id = u.id",     // RecordResults: the states
		"FROM events WHERE id = $1",               // Event: lookup by id
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

// TestColdPlansControl runs the same replay with PostgreSQL's default
// plan_cache_mode: the duplicate lookup turns into a cached sequential
// scan. It shows the cliff is real on this server and that the test above
// would see it.
func TestColdPlansControl(t *testing.T) {
	t.Parallel()
	plans, scans := coldPlans(t, "plan_cache_mode=auto")
	if scans == 0 {
		t.Error("with plan_cache_mode=auto, no sequential scan of events after the burst: the counter check above proves nothing")
	}
	for _, p := range plans {
		if p.seqScan && p.genericPlans > 0 {
			t.Logf("cached generic plan scanning events sequentially: %s", short(p.statement))
			return
		}
	}
	t.Error("with plan_cache_mode=auto no cached statement kept a generic Seq Scan of events: the plan check above proves nothing")
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
// runs ingest's and the worker's statements eight times on one connection
// while events holds a few rows, inserts coldRows rows with autovacuum off
// for events, runs the statements once more, and returns the plan of every
// statement on events that the connection has prepared and how many
// sequential scans of events that last round made.
func coldPlans(t *testing.T, param string) (plans []cachedPlan, seqScans int64) {
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
		if got, err := st.UpsertEvents(ctx, nil, evs); err != nil || len(got) != len(evs) {
			t.Fatalf("upsert: %d rows, %v", len(got), err)
		}
		results := make([]store.Result, len(evs))
		for i, e := range evs {
			results[i] = store.Result{EventID: e.ID, State: store.StateConfirmed, SpendsBudget: true,
				Call: &store.Attempt{CallID: uuid.New(), EventID: e.ID, Attempt: 1, StartedAt: occurred, Duration: 20 * time.Millisecond,
					HTTPStatus: &status, VendorCode: &code, Outcome: "confirmed"}}
		}
		if got, err := st.RecordResults(ctx, results); err != nil || len(got) != len(evs) {
			t.Fatalf("record results: %d rows, %v", len(got), err)
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
		args := make([]string, len(s.types))
		for i, typ := range s.types {
			args[i] = sampleValue(t, typ, someID)
		}
		// RecordResults runs these in its transaction, after SET LOCAL
		// enable_seqscan = off.
		inTx := strings.Contains(s.statement, "FOR UPDATE") || strings.Contains(s.statement, "FROM u JOIN events")
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
	return plans, scans
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
