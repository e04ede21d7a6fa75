package retention_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"relay/internal/metrics"
	"relay/internal/retention"
	"relay/internal/store"
	"relay/internal/testenv"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const keep = 720 * time.Hour

var (
	old    = now.Add(-keep - time.Hour)
	recent = now.Add(-keep + time.Hour)
)

type fixture struct {
	st *store.Store
	m  *metrics.Metrics
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	st, _ := testenv.Store(t)
	return &fixture{st: st, m: metrics.New()}
}

func (f *fixture) janitor(holder string, batch int, keepFor time.Duration) *retention.Janitor {
	return retention.New(retention.Config{
		Retention: keepFor, Batch: batch, Holder: holder, Metrics: f.m,
		Now: func() time.Time { return now },
	}, f.st)
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.st.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// event inserts an event named name in state, last updated at, with one
// attempt, and returns its id.
func (f *fixture) event(t *testing.T, name, state string, at time.Time) uuid.UUID {
	t.Helper()
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(name))
	f.exec(t, `INSERT INTO events (id, vendor, message_id, state, created_at, updated_at) VALUES ($1, 'liasmart', $2, $3, $4, $4)`,
		id, name, state, at)
	f.exec(t, `INSERT INTO attempts (event_id, attempt, started_at, duration_ms, outcome) VALUES ($1, 1, $2, 1, 'x')`, id, at)
	return id
}

func (f *fixture) names(t *testing.T, sql string) []string {
	t.Helper()
	rows, err := f.st.Pool().Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func (f *fixture) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := f.st.Pool().QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// metrics reads relay_retention_deleted_rows_total by table and the
// number of passes timed, as /metrics would show them.
func (f *fixture) metrics(t *testing.T) (map[string]float64, uint64) {
	t.Helper()
	mfs, err := f.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]float64{}
	var passes uint64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "relay_retention_deleted_rows_total":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "table" && m.GetCounter().GetValue() > 0 {
						deleted[l.GetValue()] = m.GetCounter().GetValue()
					}
				}
			}
		case "relay_retention_pass_duration_seconds":
			passes = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return deleted, passes
}

func pass(t *testing.T, j *retention.Janitor) (retention.Deleted, bool) {
	t.Helper()
	d, ran, err := j.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d, ran
}

func TestOnlyOldFinalRowsAreDeleted(t *testing.T) {
	f := setup(t)
	for _, state := range []string{"confirmed", "already_confirmed", "failed", "pending", "retrying", "paused"} {
		f.event(t, "old-"+state, state, old)
		f.event(t, "recent-"+state, state, recent)
	}
	// A replay that reset the old confirmed event (force) and the old
	// pending one.
	replay := uuid.New()
	f.exec(t, `INSERT INTO replays (id, request_hash, actor, request, dry_run) VALUES ($1, '\x00', 'op', '{}', false)`, replay)
	f.exec(t, `INSERT INTO replay_events (replay_id, event_id) SELECT $1, id FROM events WHERE message_id IN ('old-confirmed', 'old-pending')`, replay)

	// Tracked messages: final and published, final but its report not yet
	// published, still polled; and outbox rows published or not.
	msg := func(name, status string, final, published *time.Time) {
		var next *time.Time
		if final == nil {
			next = &now
		}
		f.exec(t, `INSERT INTO messages (id, vendor, message_id, app_id, status, next_poll_at, expires_at, created_at, updated_at, final_at, published_at)
			VALUES ($1, 'laaffic', $2, 'app', $3, $4, $5, $5, $5, $6, $7)`,
			uuid.New(), name, status, next, old, final, published)
	}
	msg("old-delivered", "delivered", &old, &old)
	msg("old-expired", "expired", &old, &old)
	msg("old-failed-unpublished", "failed", &old, nil)
	msg("recent-delivered", "delivered", &recent, &recent)
	msg("old-sending", "sending", nil, nil)
	out := func(name string, published *time.Time) {
		f.exec(t, `INSERT INTO outbox (subject, msg_id, payload, created_at, published_at) VALUES ('relay.alerts.x', $1, '\x00', $2, $3)`,
			name, old, published)
	}
	out("old-published", &old)
	out("old-unpublished", nil)
	out("recent-published", &recent)

	d, ran := pass(t, f.janitor("a", 1000, keep))
	if !ran {
		t.Fatal("the only janitor did not get the lease")
	}
	want := retention.Deleted{Events: 3, Attempts: 3, ReplayEvents: 1, Messages: 2, Outbox: 1, Statements: 3}
	if d != want {
		t.Errorf("deleted %+v, want %+v", d, want)
	}
	wantEvents := []string{"old-paused", "old-pending", "old-retrying", "recent-already_confirmed", "recent-confirmed",
		"recent-failed", "recent-paused", "recent-pending", "recent-retrying"}
	if got := f.names(t, `SELECT message_id FROM events`); !slices.Equal(got, wantEvents) {
		t.Errorf("events left %v, want %v", got, wantEvents)
	}
	if n := f.count(t, `SELECT count(*) FROM attempts`); n != len(wantEvents) {
		t.Errorf("%d attempts left, want one per event left (%d)", n, len(wantEvents))
	}
	if got := f.names(t, `SELECT e.message_id FROM replay_events r JOIN events e ON e.id = r.event_id`); !slices.Equal(got, []string{"old-pending"}) {
		t.Errorf("replay rows left for %v, want [old-pending]", got)
	}
	if got := f.names(t, `SELECT message_id FROM messages`); !slices.Equal(got, []string{"old-failed-unpublished", "old-sending", "recent-delivered"}) {
		t.Errorf("messages left %v", got)
	}
	if got := f.names(t, `SELECT msg_id FROM outbox`); !slices.Equal(got, []string{"old-unpublished", "recent-published"}) {
		t.Errorf("outbox left %v", got)
	}
	deleted, passes := f.metrics(t)
	if want := map[string]float64{"events": 3, "attempts": 3, "replay_events": 1, "messages": 2, "outbox": 1}; !maps.Equal(deleted, want) {
		t.Errorf("relay_retention_deleted_rows_total %v, want %v", deleted, want)
	}
	if passes != 1 {
		t.Errorf("relay_retention_pass_duration_seconds counts %d passes, want 1", passes)
	}
}

func TestDeletesInBatches(t *testing.T) {
	f := setup(t)
	for i := range 7 {
		f.event(t, "e"+string(rune('a'+i)), "confirmed", old)
	}
	d, ran := pass(t, f.janitor("a", 3, keep))
	if !ran || d.Events != 7 || d.Attempts != 7 {
		t.Fatalf("ran %v, deleted %+v; want 7 events and their attempts", ran, d)
	}
	// 3 + 3 + 1 events, then one statement each for messages and outbox.
	if d.Statements != 5 {
		t.Errorf("%d statements, want 5 (events in batches of 3: 3, 3, 1; messages; outbox)", d.Statements)
	}
	if n := f.count(t, `SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events left", n)
	}
}

func TestOneJanitorAtATime(t *testing.T) {
	f := setup(t)
	a, b := f.janitor("a", 1000, keep), f.janitor("b", 1000, keep)
	f.event(t, "first", "confirmed", old)
	if d, ran := pass(t, a); !ran || d.Events != 1 {
		t.Fatalf("janitor a: ran %v, deleted %+v", ran, d)
	}
	f.event(t, "second", "failed", old)
	if d, ran := pass(t, b); ran || d.Events != 0 {
		t.Fatalf("janitor b ran (%+v) while a holds the lease", d)
	}
	if n := f.count(t, `SELECT count(*) FROM events`); n != 1 {
		t.Fatalf("%d events, want the second one kept until the next pass", n)
	}
	// Once a's lease has run out, whoever comes next works.
	f.exec(t, `UPDATE monitor_leases SET lease_until = $1 WHERE name = $2`, now, retention.LeaseName)
	if d, ran := pass(t, b); !ran || d.Events != 1 {
		t.Fatalf("janitor b after the lease ran out: ran %v, deleted %+v", ran, d)
	}
}

func TestRetentionZeroKeepsEverything(t *testing.T) {
	f := setup(t)
	f.event(t, "ancient", "confirmed", now.Add(-100*keep))
	j := f.janitor("a", 1000, 0)
	if d, ran := pass(t, j); ran || d != (retention.Deleted{}) {
		t.Fatalf("retention 0: ran %v, deleted %+v", ran, d)
	}
	done := make(chan struct{})
	go func() {
		j.Run(t.Context())
		close(done)
	}()
	testenv.Eventually(t, 10*time.Second, "Run to return at once with retention 0", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if n := f.count(t, `SELECT count(*) FROM events`); n != 1 {
		t.Errorf("%d events, want the ancient one kept", n)
	}
	if n := f.count(t, `SELECT count(*) FROM monitor_leases`); n != 0 {
		t.Errorf("retention 0 took the lease")
	}
}

// TestLockedEventIsSkippedNotAwaited: an event a worker or a replay holds
// (row locked) is skipped without waiting, and when that transaction moves
// it out of its final state the next pass leaves it alone.
func TestLockedEventIsSkippedNotAwaited(t *testing.T) {
	f := setup(t)
	held := f.event(t, "held", "failed", old)
	f.event(t, "free", "failed", old)
	ctx := context.Background()
	tx, err := f.st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM events WHERE id = $1 FOR UPDATE`, held); err != nil {
		t.Fatal(err)
	}
	if d, ran := pass(t, f.janitor("a", 1000, keep)); !ran || d.Events != 1 {
		t.Fatalf("ran %v, deleted %+v; want the free event only", ran, d)
	}
	// The holder replays it: pending again, updated long ago all the same.
	if _, err := tx.Exec(ctx, `UPDATE events SET state = 'pending' WHERE id = $1`, held); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `UPDATE monitor_leases SET lease_until = $1`, now)
	if d, ran := pass(t, f.janitor("a", 1000, keep)); !ran || d.Events != 0 {
		t.Fatalf("ran %v, deleted %+v; want nothing (the old event is pending now)", ran, d)
	}
	if got := f.names(t, `SELECT message_id || ':' || state FROM events`); !slices.Equal(got, []string{"held:pending"}) {
		t.Errorf("events left %v, want [held:pending]", got)
	}
}
